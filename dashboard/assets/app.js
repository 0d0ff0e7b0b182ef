// The dashboard shell: sign-in, the account switcher, the navigation and a hash router
// (#/keys, #/org …) so that everything is one embedded page and the back button works.
import {session, get, post, APIError} from './api.js';
import {h, fill, field, errorBox, busy, toast} from './ui.js';
import * as keys from './keys.js';
import * as org from './org.js';
import * as activity from './activity.js';
import * as providers from './providers.js';
import * as settings from './settings.js';

const pages = [
  {path: 'keys', title: 'Keys', mod: keys},
  {path: 'org', title: 'Organization', mod: org},
  {path: 'activity', title: 'Activity', mod: activity},
  {path: 'providers', title: 'Providers', mod: providers},
  {path: 'settings', title: 'Settings', mod: settings},
];

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const account = document.getElementById('account');
let state = null;  // {me, orgs, role, isAdmin, org}
let cleanup = null; // the current page's timers

// loadState asks the API who the current key is and which contexts its user belongs to.
async function loadState() {
  const me = (await get('/v1/me')).data;
  const orgs = (await get('/v1/orgs')).data;
  session.use(me.organization.id); // a pasted key may act elsewhere than expected
  session.remember(me.organization.id, session.token());
  state = {me, orgs, org: me.organization, role: me.role, isAdmin: me.role === 'admin', reload: refresh};
}

async function refresh() {
  state = null;
  await route();
}

// go shows a page: a new hash routes through hashchange, the same one routes now.
function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function signIn(err) {
  nav.hidden = true;
  account.hidden = true;
  const input = h('input', {type: 'password', name: 'key', required: true, autocomplete: 'off',
    spellcheck: 'false', placeholder: 'sk-ar-mgmt-v1-…'});
  const status = h('div');
  const submit = h('button', {type: 'submit'}, 'Sign in');
  const form = h('form', {class: 'card narrow', onsubmit: async e => {
    e.preventDefault();
    const key = input.value.trim();
    await busy(submit, async () => {
      try {
        const me = (await get('/v1/me', key)).data;
        session.remember(me.organization.id, key);
        session.use(me.organization.id);
        state = null;
        go(!location.hash || location.hash === '#/signin' ? '#/keys' : location.hash);
      } catch (e2) {
        fill(status, errorBox(e2));
      }
    });
  }},
  h('h1', {}, 'Sign in'),
  h('p', {}, 'Sign in with a management key (sk-ar-mgmt-v1-…). It is kept in this browser tab only and forgotten when the tab closes.'),
  field('Management key', input, 'The instance admin\'s key is printed once at the gateway\'s first start; members get theirs by redeeming an invitation code.'),
  status, submit);
  fill(main, form, redeemCard(null));
  input.focus();
  if (err) status.append(errorBox(err));
}

// redeemCard turns an invitation code into a management key for its organization. Signed
// in (an existing account), the current key proves who redeems; signed out, a new account
// redeems with the code alone.
function redeemCard(target) {
  const code = h('input', {name: 'code', required: true, autocomplete: 'off', spellcheck: 'false', placeholder: 'sk-ar-inv-v1-…'});
  const status = h('div');
  const submit = h('button', {type: 'submit'}, 'Redeem');
  return h('form', {class: 'card narrow', onsubmit: async e => {
    e.preventDefault();
    await busy(submit, async () => {
      try {
        const res = await post('/v1/invitations/redeem', {code: code.value.trim()});
        session.remember(res.data.organization_id, res.key);
        session.use(res.data.organization_id);
        toast('Invitation redeemed: you are now in that organization');
        state = null;
        go('#/keys');
      } catch (e2) {
        fill(status, errorBox(e2));
      }
    });
  }},
  h('h2', {}, 'Redeem an invitation'),
  h('p', {}, target
    ? `A management key for ${target} comes from an invitation code that one of its Admins gives you (they add you as a member).`
    : 'Were you invited to an organization? Redeem the code an Admin gave you to get your management key.'),
  field('Invitation code', code), status, submit);
}

// switchPage is where choosing a context without a key lands: the API refuses to mint a key
// for another organization, so the way in is a pasted key or an invitation.
function switchPage(id) {
  const target = state.orgs.find(o => String(o.id) === String(id));
  if (!target) {
    fill(main, errorBox(new Error('You are not a member of that organization.')));
    return;
  }
  const name = target.personal ? 'your personal context' : target.name;
  const parts = [h('h1', {}, `Switch to ${target.personal ? 'your personal context' : target.name}`)];
  if (target.personal) {
    const status = h('div');
    const b = h('button', {type: 'button', onclick: () => busy(b, async () => {
      try {
        const res = await post('/v1/management-keys', {name: 'dashboard', organization_id: target.id});
        session.remember(target.id, res.key);
        session.use(target.id);
        state = null;
        go('#/keys');
      } catch (e) {
        fill(status, errorBox(e));
      }
    })}, 'Create a key for my personal context');
    parts.push(h('section', {class: 'card narrow'}, h('h2', {}, 'Mint a key'),
      h('p', {}, 'A management key may mint a key for its user\'s personal context.'), b, status));
  } else {
    parts.push(h('p', {class: 'note'}, `This tab holds no management key for ${name}. Paste one you have, or redeem an invitation code; a key for one organization cannot mint keys for another.`));
  }
  const key = h('input', {type: 'password', required: true, autocomplete: 'off', placeholder: 'sk-ar-mgmt-v1-…'});
  const status = h('div');
  const submit = h('button', {type: 'submit'}, 'Use this key');
  parts.push(h('form', {class: 'card narrow', onsubmit: async e => {
    e.preventDefault();
    await busy(submit, async () => {
      try {
        const me = (await get('/v1/me', key.value.trim())).data;
        if (String(me.organization.id) !== String(target.id)) throw new APIError(400, `That key acts in ${me.organization.name}, not in ${target.name}.`);
        session.remember(target.id, key.value.trim());
        session.use(target.id);
        state = null;
        go('#/keys');
      } catch (e2) {
        fill(status, errorBox(e2));
      }
    });
  }}, h('h2', {}, 'Paste a management key'), field(`Management key for ${name}`, key), status, submit));
  if (!target.personal) parts.push(redeemCard(target.name));
  fill(main, parts);
}

function renderChrome(current, selected = state.org.id) {
  nav.hidden = false;
  account.hidden = false;
  fill(nav, pages.map(p => h('a', {href: `#/${p.path}`, 'aria-current': p.path === current ? 'page' : null}, p.title)));
  const held = session.keys();
  const select = h('select', {id: 'context', onchange: () => {
    const id = select.value;
    if (held[id]) {
      session.use(id);
      state = null;
      go(location.hash.startsWith('#/switch/') ? '#/keys' : location.hash);
    } else {
      location.hash = `#/switch/${id}`;
    }
  }}, state.orgs.map(o => h('option', {value: o.id, selected: String(o.id) === String(selected)},
    `${o.personal ? 'Personal' : o.name} (${o.role})${held[o.id] ? '' : ' — needs a key'}`)));
  fill(account,
    h('label', {for: 'context'}, 'Account'), select,
    h('span', {class: 'who', title: state.me.user.email}, state.me.user.email),
    h('button', {type: 'button', class: 'link', onclick: () => {
      session.clear();
      state = null;
      location.hash = '#/signin';
      signIn();
    }}, 'Sign out'));
}

async function route() {
  if (cleanup) { cleanup(); cleanup = null; }
  document.getElementById('toast').textContent = '';
  if (!session.token()) { signIn(); return; }
  const hash = location.hash.replace(/^#\/?/, '');
  if (state && String(state.org.id) !== session.current()) state = null; // switched context
  if (!state) {
    fill(main, h('p', {class: 'loading'}, 'Loading…'));
    try {
      await loadState();
    } catch (e) {
      if (e.status === 401 || e.status === 403) session.forget(session.current());
      signIn(e);
      return;
    }
  }
  if (hash.startsWith('switch/')) {
    renderChrome('', hash.slice(7));
    switchPage(hash.slice(7));
    return;
  }
  const page = pages.find(p => p.path === hash) || pages[0];
  renderChrome(page.path);
  document.title = `${page.title} · ARouter`;
  fill(main, h('p', {class: 'loading'}, 'Loading…'));
  try {
    cleanup = (await page.mod.render(main, state)) || null;
  } catch (e) {
    fill(main, h('h1', {}, page.title), errorBox(e));
  }
  if (document.activeElement === document.body) main.focus({preventScroll: true});
}

window.addEventListener('hashchange', route);
route();
