// Keys: the context's inference keys (a Member sees their own) with usage against limit,
// and create, edit, rotate, disable/enable and delete.
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

// The API speaks RFC 3339 in UTC; a datetime-local input shows and reads local time.
const toRFC3339 = local => new Date(local).toISOString().replace(/\.\d+Z$/, 'Z');
function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60e3).toISOString().slice(0, 16);
}

// keyFields builds the controls of a key's settings, filled from k when editing one. values()
// reads them as the API's fields; changes() only those that differ from k, so that an edit
// sends what the user changed and nothing else (an untouched expiry that has meanwhile come
// closer is not sent back, nor is a list of models rewritten).
function keyFields(models, k) {
  const name = h('input', {name: 'name', required: true, maxlength: 200, autocomplete: 'off', value: k?.name});
  const limit = h('input', {name: 'limit', type: 'number', min: 0, step: 'any', inputmode: 'decimal', placeholder: 'no limit',
    value: k && k.limit !== null && k.limit !== undefined ? String(k.limit) : undefined});
  const resetNow = k ? (k.limit_reset || '') : 'monthly';
  const reset = h('select', {name: 'limit_reset'},
    [['', 'never (limit covers all spend)'], ['daily', 'daily'], ['weekly', 'weekly'], ['monthly', 'monthly']]
      .map(([v, text]) => h('option', {value: v, selected: v === resetNow}, text)));
  const expiresNow = toLocalInput(k?.expires_at);
  const expires = h('input', {name: 'expires_at', type: 'datetime-local', value: expiresNow});
  // A key may allow a pattern ("openai/*") that is no model of its own: it gets a box too.
  const allowedNow = k?.allowed_models || [];
  const ids = [...models.map(m => m.id), ...allowedNow.filter(p => !models.some(m => m.id === p))];
  const modelBoxes = ids.map(id => h('label', {class: 'check'},
    h('input', {type: 'checkbox', name: 'model', value: id, checked: allowedNow.includes(id)}), id));
  const byok = h('input', {type: 'checkbox', name: 'include_byok_in_limit', checked: !!k?.include_byok_in_limit});
  const logging = h('input', {type: 'checkbox', name: 'prompt_logging', checked: !!k?.prompt_logging});

  const values = () => ({
    name: name.value.trim(),
    limit: limit.value === '' ? null : Number(limit.value),
    limit_reset: reset.value || null,
    allowed_models: modelBoxes.map(l => l.firstChild).filter(c => c.checked).map(c => c.value),
    expires_at: expires.value ? toRFC3339(expires.value) : null,
    include_byok_in_limit: byok.checked,
    prompt_logging: logging.checked,
  });
  const sameSet = (a, b) => a.length === b.length && a.every(x => b.includes(x));
  const changes = () => {
    const v = values();
    const out = {};
    if (v.name !== k.name) out.name = v.name;
    if (v.limit !== (k.limit ?? null)) out.limit = v.limit;
    if (v.limit_reset !== (k.limit_reset || null)) out.limit_reset = v.limit_reset;
    if (!sameSet(v.allowed_models, allowedNow)) out.allowed_models = v.allowed_models;
    if (expires.value !== expiresNow) out.expires_at = v.expires_at;
    if (v.include_byok_in_limit !== !!k.include_byok_in_limit) out.include_byok_in_limit = v.include_byok_in_limit;
    if (v.prompt_logging !== !!k.prompt_logging) out.prompt_logging = v.prompt_logging;
    return out;
  };
  const controls = [
    h('div', {class: 'grid'},
      field('Name', name),
      field('Spend limit (USD)', limit, 'Empty: no limit beyond the credits'),
      field('Limit resets', reset),
      field('Expires (your local time)', expires, 'Empty: never')),
    h('fieldset', {class: 'models'}, h('legend', {}, 'Allowed models (none ticked: every model)'), modelBoxes),
    h('div', {class: 'checks'},
      h('label', {class: 'check'}, byok, "Count spend on the organization's own provider keys (BYOK) against the limit"),
      h('label', {class: 'check'}, logging, "Log this key's prompts and answers (readable by Admins)")),
  ];
  return {controls, values, changes};
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
    const edit = h('button', {type: 'button', onclick: () => editKey(k)}, 'Edit');
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
    for (const b of [edit, rotate, toggle, remove]) b.setAttribute('aria-label', `${b.textContent} ${k.name}`);
    return [edit, rotate, toggle, remove];
  }

  // editKey opens the key's settings in a modal dialog. Saving sends only what changed; an
  // error from the API stays in the dialog with the user's input, and Escape or Cancel
  // leaves the key as it was.
  function editKey(k) {
    const f = keyFields(models.data, k);
    const status = h('div');
    const save = h('button', {type: 'submit'}, 'Save changes');
    const cancel = h('button', {type: 'button', onclick: () => dlg.close()}, 'Cancel');
    const form = h('form', {onsubmit: async e => {
      e.preventDefault();
      const body = f.changes();
      if (!Object.keys(body).length) {
        dlg.close();
        return;
      }
      await busy(save, async () => {
        fill(status);
        try {
          const res = await patch(`/v1/keys/${enc(k.hash)}`, body);
          dlg.close();
          toast(`${res.data.name} saved`);
          await reload();
        } catch (e2) { fill(status, errorBox(e2)); }
      });
    }}, h('h2', {id: 'edit-key-title'}, `Edit ${k.name}`), f.controls, status, h('div', {class: 'actions'}, save, cancel));
    const dlg = h('dialog', {class: 'edit', 'aria-labelledby': 'edit-key-title'}, form);
    dlg.addEventListener('close', () => dlg.remove());
    document.body.append(dlg);
    dlg.showModal();
  }

  function showSecret(title, token) {
    const panel = secretPanel(title, token, 'This token is shown only this once: copy it now. ARouter keeps only its hash.');
    fill(once, panel);
    panel.focus();
  }

  // The create form.
  const f = keyFields(models.data);
  const status = h('div');
  const submit = h('button', {type: 'submit'}, 'Create key');
  const form = h('form', {class: 'card', id: 'create-key', onsubmit: async e => {
    e.preventDefault();
    const body = f.values();
    if (body.expires_at === null) delete body.expires_at;
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
  h('h2', {}, 'Create a key'), f.controls, status, submit);

  fill(main,
    h('div', {class: 'page-head'}, h('h1', {}, 'API keys'), refreshBtn),
    h('p', {class: 'note'}, state.isAdmin ? `Every key of ${state.org.personal ? 'your personal context' : state.org.name}.` : 'Your own keys in this organization.'),
    once, tableBox, form);
  drawTable(list.data);
}
