// Settings: preferences (create an organization), the organization's prompt logging (Admins
// change it, everyone sees it) and its own provider keys (BYOK; Admins; labels only).
import {get, post, patch, del, enc, session} from './api.js';
import {h, fill, field, errorBox, empty, when, confirm, busy, toast} from './ui.js';

export async function render(main, state) {
  const parts = [h('h1', {}, 'Settings'), preferences(state), promptLogging(state)];
  if (state.isAdmin) parts.push(await byok());
  fill(main, parts);
}

function preferences(state) {
  const name = h('input', {required: true, maxlength: 200, autocomplete: 'organization'});
  const status = h('div');
  const submit = h('button', {type: 'submit'}, 'Create organization');
  return h('section', {class: 'card', id: 'preferences'}, h('h2', {}, 'Preferences'),
    h('form', {class: 'inline', id: 'create-org', onsubmit: async e => {
      e.preventDefault();
      await busy(submit, async () => {
        try {
          const res = await post('/v1/orgs', {name: name.value.trim()});
          session.remember(res.data.id, res.management_key);
          session.use(res.data.id);
          toast(`Created ${res.data.name}; you are its Admin`);
          if (location.hash === '#/org') await state.reload();
          else location.hash = '#/org';
        } catch (e2) { fill(status, errorBox(e2)); }
      });
    }}, h('h3', {}, 'Create Organization'),
    h('p', {class: 'hint'}, 'A shared credit pool and member list; you become its Admin. The dashboard switches to it.'),
    field('Organization name', name), submit), status);
}

function promptLogging(state) {
  const on = !!state.org.prompt_logging;
  const box = h('section', {class: 'card', id: 'prompt-logging'}, h('h2', {}, 'Prompt logging'),
    h('p', {}, `Prompt logging is ${on ? 'ON: request bodies and answers are stored for the Admins' : 'off: only metadata (tokens, cost, timings) is stored'}.`));
  if (!state.isAdmin) {
    box.append(h('p', {class: 'hint'}, 'Only Admins can change it.'));
    return box;
  }
  const check = h('input', {type: 'checkbox', id: 'prompt-logging-toggle', checked: on});
  const status = h('div');
  const save = h('button', {type: 'submit'}, 'Save');
  box.append(h('form', {class: 'inline', onsubmit: async e => {
    e.preventDefault();
    await busy(save, async () => {
      try {
        await patch(`/v1/orgs/${enc(state.org.id)}`, {prompt_logging: check.checked});
        toast(`Prompt logging ${check.checked ? 'on' : 'off'}`);
        await state.reload();
      } catch (e2) { fill(status, errorBox(e2)); }
    });
  }}, h('label', {class: 'check'}, check, 'Store request bodies and answers of every key in this context'), save), status);
  return box;
}

async function byok() {
  const box = h('section', {class: 'card', id: 'byok'});
  const list = h('div');
  async function load() {
    try {
      const creds = (await get('/v1/byok')).data;
      if (!creds.length) { fill(list, empty('No provider keys stored: requests run on the gateway\'s keys.')); return; }
      fill(list, h('div', {class: 'scroll'}, h('table', {},
        h('thead', {}, h('tr', {}, ['Provider', 'Label', 'Mode', 'Added', 'Actions'].map(t => h('th', {scope: 'col'}, t)))),
        h('tbody', {}, creds.map(c => {
          const d = h('button', {type: 'button', class: 'danger', 'aria-label': `Delete ${c.label}`, onclick: () => busy(d, async () => {
            if (!await confirm(`Delete the provider key "${c.label}"? Requests go back to the gateway's keys.`)) return;
            try { await del(`/v1/byok/${enc(c.id)}`); toast('Provider key deleted'); await load(); } catch (e) { fill(status, errorBox(e)); }
          })}, 'Delete');
          return h('tr', {}, h('th', {scope: 'row'}, c.provider), h('td', {}, c.label), h('td', {}, c.mode),
            h('td', {}, when(c.created_at)), h('td', {}, d));
        })))));
    } catch (e) { fill(list, errorBox(e)); }
  }
  const provider = h('input', {required: true, list: 'provider-ids', autocomplete: 'off'});
  const ids = h('datalist', {id: 'provider-ids'});
  get('/v1/models').then(async ms => {
    const seen = new Set();
    for (const m of ms.data) {
      try {
        const eps = (await get(`/v1/models/${m.id.split('/').map(encodeURIComponent).join('/')}/endpoints`)).data.endpoints;
        for (const e of eps) if (!seen.has(e.provider_name)) { seen.add(e.provider_name); ids.append(h('option', {value: e.provider_name})); }
      } catch { /* suggestions only */ }
    }
  }).catch(() => {});
  const secret = h('input', {type: 'password', required: true, autocomplete: 'off', minlength: 8});
  const mode = h('select', {}, ['prefer', 'fallback', 'only'].map(m => h('option', {value: m}, m)));
  const name = h('input', {autocomplete: 'off', placeholder: 'optional'});
  const status = h('div');
  const submit = h('button', {type: 'submit'}, 'Add provider key');
  fill(box, h('h2', {}, 'Provider keys (BYOK)'),
    h('p', {class: 'hint'}, 'The organization\'s own provider API keys, stored encrypted. Only their labels are ever shown.'),
    list,
    h('form', {class: 'inline', id: 'add-byok', onsubmit: async e => {
      e.preventDefault();
      await busy(submit, async () => {
        try {
          const body = {provider: provider.value.trim(), key: secret.value, mode: mode.value};
          if (name.value.trim()) body.name = name.value.trim();
          await post('/v1/byok', body);
          secret.value = '';
          fill(status);
          toast('Provider key stored');
          await load();
        } catch (e2) { fill(status, errorBox(e2)); }
      });
    }}, field('Provider', provider), ids, field('Provider API key', secret), field('Mode', mode), field('Name', name), submit),
    status);
  await load();
  return box;
}
