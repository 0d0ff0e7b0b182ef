// Organization: who is in it with which role, and the shared credits. Member management and
// credits are Admin-only in the API, so a Member is not offered them at all; only the instance
// admin (the operator) grants credits, so only they are offered the form.
import {get, post, patch, del, enc} from './api.js';
import {h, fill, field, errorBox, empty, usd, when, secretPanel, confirm, busy, toast} from './ui.js';

export async function render(main, state) {
  const o = state.org;
  const head = [
    h('h1', {}, o.personal ? 'Personal context' : o.name),
    h('p', {class: 'note'}, `You are ${state.role === 'admin' ? 'an Admin' : 'a Member'} here.`,
      o.personal ? ' Your personal context has its own credits; create an organization under Settings to share a credit pool.' : ''),
  ];
  if (!state.isAdmin) {
    fill(main, head, h('p', {}, 'Members, roles and credits are managed by the organization\'s Admins.'));
    return;
  }
  const creditsBox = h('section', {class: 'card', id: 'credits'});
  const membersBox = h('section', {class: 'card', id: 'members'});
  fill(main, head, creditsBox, membersBox);
  await Promise.all([credits(creditsBox, state.me.instance_admin), members(membersBox, state)]);
}

async function credits(box, canGrant) {
  const amount = h('input', {type: 'number', min: 0.01, step: 'any', required: true, inputmode: 'decimal'});
  const status = h('div');
  const submit = h('button', {type: 'submit'}, 'Add credits');
  const figures = h('dl', {class: 'figures'});
  async function load() {
    const c = (await get('/v1/credits')).data;
    fill(figures,
      h('div', {}, h('dt', {}, 'Balance'), h('dd', {id: 'balance'}, usd(c.total_credits - c.total_usage))),
      h('div', {}, h('dt', {}, 'Granted'), h('dd', {}, usd(c.total_credits))),
      h('div', {}, h('dt', {}, 'Used'), h('dd', {}, usd(c.total_usage))));
  }
  try { await load(); } catch (e) { fill(figures, errorBox(e)); }
  if (!canGrant) {
    fill(box, h('h2', {}, 'Credits'), figures,
      h('p', {class: 'note'}, 'Credits are granted by the instance admin, who runs this gateway.'));
    return;
  }
  fill(box, h('h2', {}, 'Credits'), figures,
    h('form', {class: 'inline', onsubmit: async e => {
      e.preventDefault();
      await busy(submit, async () => {
        try {
          await post('/v1/credits', {amount: Number(amount.value)});
          amount.value = '';
          fill(status);
          toast('Credits added');
          await load();
        } catch (e2) { fill(status, errorBox(e2)); }
      });
    }}, field('Amount (USD)', amount), submit), status);
}

async function members(box, state) {
  const id = state.org.id;
  const list = h('div');
  const once = h('div');
  async function load() {
    try {
      const ms = (await get(`/v1/orgs/${enc(id)}/members`)).data;
      if (!ms.length) { fill(list, empty('No members.')); return; }
      fill(list, h('div', {class: 'scroll'}, h('table', {},
        h('thead', {}, h('tr', {}, ['Member', 'Role', 'Joined', 'Actions'].map(t => h('th', {scope: 'col'}, t)))),
        h('tbody', {}, ms.map(m => row(m))))));
    } catch (e) { fill(list, errorBox(e)); }
  }
  function row(m) {
    const who = m.user.name || m.user.email;
    const role = h('select', {'aria-label': `Role of ${who}`},
      h('option', {value: 'member', selected: m.role === 'member'}, 'Member'),
      h('option', {value: 'admin', selected: m.role === 'admin'}, 'Admin'));
    const save = h('button', {type: 'button', 'aria-label': `Change role of ${who}`, onclick: () => busy(save, async () => {
      try {
        await patch(`/v1/orgs/${enc(id)}/members/${enc(m.user.id)}`, {role: role.value});
        toast(`${who} is now ${role.value === 'admin' ? 'an Admin' : 'a Member'}`);
        await load();
      } catch (e) { fill(once, errorBox(e)); }
    })}, 'Change role');
    const remove = h('button', {type: 'button', class: 'danger', 'aria-label': `Remove ${who}`, onclick: () => busy(remove, async () => {
      if (!await confirm(`Remove ${m.user.email} from the organization? Their management keys end and the API keys they created are disabled.`, 'Remove')) return;
      try {
        await del(`/v1/orgs/${enc(id)}/members/${enc(m.user.id)}`);
        toast(`${who} removed`);
        await load();
      } catch (e) { fill(once, errorBox(e)); }
    })}, 'Remove');
    // A new invitation code, for a member whose code expired or was lost; you hold your own keys.
    const reinvite = m.user.id === state.me.user.id ? null : h('button', {type: 'button', 'aria-label': `New invitation code for ${who}`,
      onclick: () => busy(reinvite, async () => {
        if (!await confirm(`Issue a new invitation code for ${m.user.email}? Codes issued to them before stop working.`, 'Issue code')) return;
        try {
          const res = await post(`/v1/orgs/${enc(id)}/members/${enc(m.user.id)}/invitation`);
          showCode(m.user.email, res.invitation);
        } catch (e) { fill(once, errorBox(e)); }
      })}, 'New code');
    return h('tr', {},
      h('th', {scope: 'row'}, h('span', {class: 'name'}, m.user.name), h('br'), h('span', {class: 'hint'}, m.user.email)),
      h('td', {}, h('span', {class: 'role'}, m.role)),
      h('td', {}, when(m.joined_at)),
      h('td', {class: 'actions'}, role, save, reinvite, remove));
  }
  function showCode(email, invitation) {
    const panel = secretPanel(`Invitation code for ${email}`, invitation.code,
      `Hand this code to them: it is shown only this once and can be redeemed once, until ${when(invitation.expires_at)}, for their own management key.`);
    fill(once, panel);
    panel.focus();
  }
  const email = h('input', {type: 'email', required: true, autocomplete: 'off'});
  const newRole = h('select', {}, h('option', {value: 'member'}, 'Member'), h('option', {value: 'admin'}, 'Admin'));
  const status = h('div');
  const submit = h('button', {type: 'submit'}, 'Add member');
  fill(box, h('h2', {}, 'Members'), once, list,
    h('form', {class: 'inline', id: 'add-member', onsubmit: async e => {
      e.preventDefault();
      await busy(submit, async () => {
        try {
          const res = await post(`/v1/orgs/${enc(id)}/members`, {email: email.value.trim(), role: newRole.value});
          email.value = '';
          fill(status);
          showCode(res.data.user.email, res.invitation);
          await load();
        } catch (e2) { fill(status, errorBox(e2)); }
      });
    }}, field('Email', email), field('Role', newRole), submit), status);
  await load();
}
