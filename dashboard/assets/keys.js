// Keys: the context's inference keys (a Member sees their own) with usage against limit,
// and create, rotate, disable/enable and delete.
import {get, post, patch, del, enc} from './api.js';
import {h, fill, field, errorBox, empty, usd, when, secretPanel, confirm, busy, toast} from './ui.js';

const periodUsage = k => ({daily: k.usage_daily, weekly: k.usage_weekly, monthly: k.usage_monthly}[k.limit_reset] ?? k.usage);
const periodName = {daily: 'today', weekly: 'this week', monthly: 'this month'};

function usageBar(k) {
  const used = periodUsage(k) || 0;
  if (k.limit === null || k.limit === undefined) {
    return h('div', {class: 'usage'}, h('span', {}, `${usd(used)} used`), h('span', {class: 'hint'}, 'no limit'));
  }
  const pct = k.limit > 0 ? Math.min(100, (used / k.limit) * 100) : 100;
  const fillEl = h('div', {class: pct >= 90 ? 'bar-fill hot' : 'bar-fill'});
  fillEl.style.width = `${Math.max(pct, used > 0 ? 1 : 0)}%`; // CSSOM, allowed by the CSP
  return h('div', {class: 'usage'},
    h('div', {class: 'bar', role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': k.limit, 'aria-valuenow': used,
      'aria-label': `Usage of ${k.name}`}, fillEl),
    h('span', {class: 'usage-text'}, `${usd(used)} of ${usd(k.limit)} ${periodName[k.limit_reset] || 'in all'}`));
}

export async function render(main, state) {
  const [list, models] = await Promise.all([get('/v1/keys?include_disabled=true'), get('/v1/models')]);
  const once = h('div', {id: 'once'});
  const tableBox = h('div');
  const refreshBtn = h('button', {type: 'button', onclick: () => busy(refreshBtn, reload)}, 'Refresh');

  async function reload() {
    try {
      drawTable((await get('/v1/keys?include_disabled=true')).data);
    } catch (e) {
      fill(tableBox, errorBox(e));
    }
  }

  function drawTable(keys) {
    if (!keys.length) {
      fill(tableBox, empty('No API keys in this context yet. Create one below.'));
      return;
    }
    const rows = keys.map(k => h('tr', {'data-key': k.hash},
      h('th', {scope: 'row'}, h('span', {class: 'name'}, k.name), h('br'), h('code', {class: 'label'}, k.label)),
      h('td', {}, usageBar(k)),
      h('td', {}, (k.allowed_models && k.allowed_models.length) ? k.allowed_models.join(', ') : 'all models'),
      h('td', {}, k.expires_at ? when(k.expires_at) : 'never'),
      h('td', {}, h('span', {class: k.disabled ? 'badge off' : 'badge on'}, k.disabled ? 'disabled' : 'active')),
      h('td', {class: 'actions'}, actions(k))));
    fill(tableBox, h('div', {class: 'scroll'}, h('table', {},
      h('caption', {}, `${keys.length} key${keys.length === 1 ? '' : 's'}`),
      h('thead', {}, h('tr', {}, ['Key', 'Usage', 'Models', 'Expires', 'Status', 'Actions'].map(t => h('th', {scope: 'col'}, t)))),
      h('tbody', {}, rows))));
  }

  function actions(k) {
    const rotate = h('button', {type: 'button', onclick: () => busy(rotate, async () => {
      if (!await confirm(`Rotate "${k.name}"? A new token replaces it; the old one keeps working for one hour.`, 'Rotate')) return;
      try {
        const until = new Date(Date.now() + 3600e3).toISOString().replace(/\.\d+Z$/, 'Z');
        const res = await post(`/v1/keys/${enc(k.hash)}/rotate`, {old_key_expires_at: until});
        showSecret(`New token for ${k.name}`, res.key);
        await reload();
      } catch (e) { fill(once, errorBox(e)); }
    })}, 'Rotate');
    const toggle = h('button', {type: 'button', onclick: () => busy(toggle, async () => {
      try {
        await patch(`/v1/keys/${enc(k.hash)}`, {disabled: !k.disabled});
        toast(`${k.name} ${k.disabled ? 'enabled' : 'disabled'}`);
        await reload();
      } catch (e) { fill(once, errorBox(e)); }
    })}, k.disabled ? 'Enable' : 'Disable');
    const remove = h('button', {type: 'button', class: 'danger', onclick: () => busy(remove, async () => {
      if (!await confirm(`Delete the key "${k.name}"? Requests with it are refused from now on. This cannot be undone.`)) return;
      try {
        await del(`/v1/keys/${enc(k.hash)}`);
        toast(`${k.name} deleted`);
        await reload();
      } catch (e) { fill(once, errorBox(e)); }
    })}, 'Delete');
    for (const b of [rotate, toggle, remove]) b.setAttribute('aria-label', `${b.textContent} ${k.name}`);
    return [rotate, toggle, remove];
  }

  function showSecret(title, token) {
    const panel = secretPanel(title, token, 'This token is shown only this once: copy it now. ARouter keeps only its hash.');
    fill(once, panel);
    panel.focus();
  }

  // The create form.
  const name = h('input', {name: 'name', required: true, maxlength: 200, autocomplete: 'off'});
  const limit = h('input', {name: 'limit', type: 'number', min: 0, step: 'any', inputmode: 'decimal', placeholder: 'no limit'});
  const reset = h('select', {name: 'limit_reset'},
    h('option', {value: ''}, 'never (limit covers all spend)'),
    h('option', {value: 'daily'}, 'daily'), h('option', {value: 'weekly'}, 'weekly'),
    h('option', {value: 'monthly', selected: true}, 'monthly'));
  const expires = h('input', {name: 'expires_at', type: 'datetime-local'});
  const modelBoxes = models.data.map(m => h('label', {class: 'check'},
    h('input', {type: 'checkbox', name: 'model', value: m.id}), m.id));
  const status = h('div');
  const submit = h('button', {type: 'submit'}, 'Create key');
  const form = h('form', {class: 'card', id: 'create-key', onsubmit: async e => {
    e.preventDefault();
    const body = {name: name.value.trim(), limit: limit.value === '' ? null : Number(limit.value),
      limit_reset: reset.value || null,
      allowed_models: modelBoxes.map(l => l.firstChild).filter(c => c.checked).map(c => c.value)};
    if (expires.value) body.expires_at = new Date(expires.value).toISOString().replace(/\.\d+Z$/, 'Z');
    await busy(submit, async () => {
      try {
        const res = await post('/v1/keys', body);
        fill(status);
        form.reset();
        showSecret(`Token for ${res.data.name}`, res.key);
        await reload();
      } catch (e2) { fill(status, errorBox(e2)); }
    });
  }},
  h('h2', {}, 'Create a key'),
  h('div', {class: 'grid'},
    field('Name', name),
    field('Spend limit (USD)', limit, 'Empty: no limit beyond the credits'),
    field('Limit resets', reset),
    field('Expires (your local time)', expires, 'Empty: never')),
  h('fieldset', {class: 'models'}, h('legend', {}, 'Allowed models (none ticked: every model)'), modelBoxes),
  status, submit);

  fill(main,
    h('div', {class: 'page-head'}, h('h1', {}, 'API keys'), refreshBtn),
    h('p', {class: 'note'}, state.isAdmin ? `Every key of ${state.org.personal ? 'your personal context' : state.org.name}.` : 'Your own keys in this organization.'),
    once, tableBox, form);
  drawTable(list.data);
}
