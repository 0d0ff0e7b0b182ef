// Small DOM helpers. Every string from the API goes into the page as a text node or an
// attribute value (textContent, setAttribute), never parsed as markup.

// h builds an element: h('button', {class: 'x', onclick: fn}, 'text', child, [more]).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';

// s builds an SVG element the same way.
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' && 'value' in el) el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// fill empties an element and fills it with children. Table cells get their column's
// name in data-label, which the phone-width layout shows beside each value.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  for (const t of el.querySelectorAll('table')) {
    const cols = [...t.querySelectorAll('thead th')].map(th => th.textContent);
    for (const tr of t.querySelectorAll('tbody tr')) {
      [...tr.children].forEach((c, i) => { if (cols[i]) c.dataset.label = cols[i]; });
    }
  }
  return el;
}

let uid = 0;
// field is a labelled form control: field('Name', h('input', {...}), 'hint').
export function field(label, control, hint) {
  const id = control.id || `f${++uid}`;
  control.id = id;
  let hintEl = null;
  if (hint) {
    hintEl = h('span', {class: 'hint', id: `${id}-hint`}, hint);
    control.setAttribute('aria-describedby', hintEl.id);
  }
  return h('div', {class: 'field'}, h('label', {for: id}, label), control, hintEl);
}

// errorBox shows an API error by its message (the error shape's error.message).
export function errorBox(err) {
  return h('div', {class: 'error', role: 'alert'}, err && err.message ? err.message : String(err));
}

export function empty(text) {
  return h('p', {class: 'empty'}, text);
}

export function toast(text) {
  const t = document.getElementById('toast');
  t.textContent = text;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.textContent = ''; }, 4000);
}

// usd formats an amount of USD keeping small amounts readable: $0.0000108, $12.50.
export function usd(n) {
  if (n === null || n === undefined) return '—';
  const v = Number(n);
  if (v !== 0 && Math.abs(v) < 0.01) return '$' + v.toPrecision(3).replace(/0+$/, '').replace(/\.$/, '');
  return '$' + v.toFixed(2);
}

export function num(n) {
  return Number(n || 0).toLocaleString('en-US');
}

export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return isNaN(d) ? String(iso) : d.toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
}

// secretPanel shows a token or code once, with a copy button.
export function secretPanel(title, secret, note) {
  const code = h('code', {class: 'secret', 'data-secret': ''}, secret);
  const copy = h('button', {type: 'button', onclick: async () => {
    try {
      await navigator.clipboard.writeText(secret);
      toast('Copied to the clipboard');
    } catch {
      const r = document.createRange();
      r.selectNodeContents(code);
      const sel = getSelection();
      sel.removeAllRanges();
      sel.addRange(r);
      toast('Select and copy it (Ctrl+C): the clipboard is not available here');
    }
  }}, 'Copy');
  return h('section', {class: 'once', 'aria-label': title, tabindex: '-1'},
    h('h3', {}, title), h('p', {}, note || 'It is shown only this once: copy it now.'),
    h('div', {class: 'secret-row'}, code, copy));
}

// confirm asks in a modal <dialog> (keyboard: Tab between the buttons, Escape cancels).
export function confirm(question, action = 'Delete') {
  return new Promise(resolve => {
    const dlg = h('dialog', {class: 'confirm', 'aria-labelledby': 'confirm-q'},
      h('p', {id: 'confirm-q'}, question),
      h('div', {class: 'actions'},
        h('button', {type: 'button', class: 'danger', onclick: () => dlg.close('yes')}, action),
        h('button', {type: 'button', autofocus: true, onclick: () => dlg.close('no')}, 'Cancel')));
    dlg.addEventListener('close', () => { dlg.remove(); resolve(dlg.returnValue === 'yes'); });
    document.body.append(dlg);
    dlg.showModal();
  });
}

// busy disables a button while an action runs, so that double clicks do not double-create.
export async function busy(button, fn) {
  button.disabled = true;
  try { return await fn(); } finally { button.disabled = false; }
}
