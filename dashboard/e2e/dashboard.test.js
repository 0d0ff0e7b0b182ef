// End-to-end tests of the dashboard in Debian's Chromium, driven by playwright-core, against
// a gateway this test starts. One story, in order: the admin signs in, creates an
// organization, adds credits and a member, creates a key, uses it through the API and sees
// the usage; exports activity; checks providers and settings; then the member signs in and
// is not offered Admin controls. Screenshots of each page go to docs/dashboard/.
import {test, before, after} from 'node:test';
import assert from 'node:assert/strict';
import {readFile, mkdir} from 'node:fs/promises';
import path from 'node:path';
import {chromium} from 'playwright-core';
import {startGateway, root} from './gateway.js';

const shots = path.join(root, 'docs', 'dashboard');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const XSS = '<script>alert(1)</script>';
const XSS_IMG = '<img src=x onerror="window.__xss=1">';

let gw, browser;
const problems = []; // console errors, page errors and dialogs that nobody expected

before(async () => {
  await mkdir(shots, {recursive: true});
  gw = await startGateway();
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await gw?.stop();
});

async function newPage(viewport = {width: 1280, height: 860}) {
  const context = await browser.newContext({viewport, acceptDownloads: true});
  const page = await context.newPage();
  page.on('pageerror', e => problems.push(`page error: ${e.message}`));
  page.on('console', m => {
    // A refused API call logs "Failed to load resource"; anything else (a CSP violation, a
    // script error) is a bug.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`);
  });
  page.on('dialog', d => { problems.push(`unexpected dialog: ${d.message()}`); d.dismiss(); });
  return page;
}

async function api(method, p, token, body) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body) headers['Content-Type'] = 'application/json';
  const res = await fetch(gw.url + p, {method, headers, body: body && JSON.stringify(body)});
  return {status: res.status, body: await res.json()};
}

async function signIn(page, key) {
  await page.goto(`${gw.url}/dashboard/`);
  await page.getByLabel('Management key').fill(key);
  await page.getByRole('button', {name: 'Sign in'}).click();
  await page.getByRole('heading', {name: 'API keys'}).waitFor();
}

// contextKey is the management key the page holds for the context it shows.
const contextKey = page => page.evaluate(() => JSON.parse(sessionStorage.getItem('arouter.keys'))[sessionStorage.getItem('arouter.current')]);

const shot = (page, name) => page.screenshot({path: path.join(shots, `${name}.png`), fullPage: true});

let admin, memberKey, inferenceToken;

test('dashboard end to end', async t => {
  admin = await newPage();

  await t.test('serves the page with security headers', async () => {
    const res = await admin.goto(`${gw.url}/dashboard/`);
    assert.equal(res.status(), 200);
    const hd = res.headers();
    assert.match(hd['content-security-policy'], /default-src 'self'/);
    assert.match(hd['content-security-policy'], /frame-ancestors 'none'/);
    assert.doesNotMatch(hd['content-security-policy'], /unsafe-inline/);
    assert.equal(hd['x-content-type-options'], 'nosniff');
    assert.equal(hd['referrer-policy'], 'no-referrer');
    assert.equal(hd['cache-control'], 'no-store');
    await admin.getByRole('heading', {name: 'Sign in'}).waitFor();
    await shot(admin, 'signin');
  });

  await t.test('a wrong key shows the API error', async () => {
    await admin.getByLabel('Management key').fill('sk-ar-mgmt-v1-nope');
    await admin.getByRole('button', {name: 'Sign in'}).click();
    await admin.getByRole('alert').waitFor();
    assert.match(await admin.getByRole('alert').textContent(), /management key/i);
  });

  await t.test('admin signs in; the key stays in sessionStorage only', async () => {
    await signIn(admin, gw.adminKey);
    const stored = await admin.evaluate(() => ({session: JSON.stringify(sessionStorage), local: JSON.stringify(localStorage), cookie: document.cookie}));
    assert.ok(stored.session.includes(gw.adminKey));
    assert.ok(!stored.local.includes('sk-ar') && !stored.cookie.includes('sk-ar'));
    await admin.getByText('No API keys in this context yet').waitFor();
  });

  await t.test('creates an organization from Settings → Preferences', async () => {
    await admin.getByRole('link', {name: 'Settings'}).click();
    await admin.getByRole('heading', {name: 'Create Organization'}).waitFor();
    await admin.getByLabel('Organization name').fill('Platform Team');
    await admin.getByRole('button', {name: 'Create organization'}).click();
    await admin.getByRole('heading', {name: 'Platform Team'}).waitFor();
    const selected = await admin.locator('#context option:checked').textContent();
    assert.match(selected, /Platform Team \(admin\)/);
  });

  await t.test('adds credits and a member; the invitation code is shown once', async () => {
    await admin.getByLabel('Amount (USD)').fill('50');
    await admin.getByRole('button', {name: 'Add credits'}).click();
    await admin.locator('#balance', {hasText: '$50.00'}).waitFor();
    await admin.getByLabel('Email').fill('dev@example.com');
    await admin.getByRole('button', {name: 'Add member'}).click();
    const code = await admin.locator('.once [data-secret]').textContent();
    assert.match(code, /^sk-ar-inv-v1-/);
    await admin.getByRole('button', {name: 'Copy'}).waitFor();
    await admin.getByRole('row', {name: /dev@example\.com/}).waitFor();
    // The code is lost: a new one replaces it, after a confirmation. Your own row offers none.
    assert.equal(await admin.getByRole('row', {name: /admin@localhost/}).getByRole('button', {name: /^New invitation code/}).count(), 0);
    await admin.getByRole('button', {name: 'New invitation code for dev'}).click();
    await admin.getByRole('dialog').getByRole('button', {name: 'Issue code'}).click();
    await admin.locator('.once h3', {hasText: 'Invitation code for dev@example.com'}).waitFor();
    await admin.waitForFunction(old => document.querySelector('.once [data-secret]').textContent !== old, code);
    const fresh = await admin.locator('.once [data-secret]').textContent();
    assert.match(fresh, /^sk-ar-inv-v1-/);
    assert.equal((await api('POST', '/v1/invitations/redeem', null, {code})).status, 404, 'the replaced code is dead');
    // The member redeems the code (a new account: no Authorization) for their own key.
    const r = await api('POST', '/v1/invitations/redeem', null, {code: fresh});
    assert.equal(r.status, 201, JSON.stringify(r.body));
    memberKey = r.body.key;
    // Roles: promote, then demote again (the member's checks below need a Member).
    for (const role of ['admin', 'member']) {
      const dev = admin.getByRole('row', {name: /dev@example\.com/});
      await dev.getByLabel('Role of dev', {exact: true}).selectOption(role);
      await dev.getByRole('button', {name: 'Change role of dev'}).click();
      await admin.getByRole('row', {name: /dev@example\.com/}).locator('.role', {hasText: role}).waitFor();
    }
    await shot(admin, 'organization');
  });

  await t.test('creates a key with a limit and a model; the token is shown once', async () => {
    await admin.getByRole('link', {name: 'Keys'}).click();
    await admin.getByLabel('Name').fill('billing-service');
    await admin.getByLabel('Spend limit (USD)').fill('5');
    await admin.getByLabel('Limit resets').selectOption('monthly');
    await admin.getByLabel('openai/gpt-4o-mini').check();
    await admin.getByRole('button', {name: 'Create key'}).click();
    inferenceToken = await admin.locator('.once [data-secret]').textContent();
    assert.match(inferenceToken, /^sk-ar-v1-/);
    const row = admin.locator('tr', {hasText: 'billing-service'});
    await row.getByText('$0.00 of $5.00 this month').waitFor();
    assert.match(await row.textContent(), /openai\/gpt-4o-mini/);
  });

  await t.test('usage of the key through the API appears on the Keys page', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${gw.url}/v1/chat/completions`, {method: 'POST',
        headers: {Authorization: `Bearer ${inferenceToken}`, 'Content-Type': 'application/json'},
        body: JSON.stringify({model: 'openai/gpt-4o-mini', messages: [{role: 'user', content: 'Hello'}]})});
      assert.equal(res.status, 200, await res.text());
    }
    const usage = admin.locator('tr', {hasText: 'billing-service'}).locator('.usage-text');
    const deadline = Date.now() + 10000;
    while ((await usage.textContent()).startsWith('$0.00 ')) {
      assert.ok(Date.now() < deadline, 'usage did not appear within 10s');
      await admin.getByRole('button', {name: 'Refresh'}).click();
      await admin.waitForTimeout(300);
    }
    assert.match(await usage.textContent(), /^\$0\.0000\d+ of \$5\.00 this month$/);
    const fill = await admin.locator('tr', {hasText: 'billing-service'}).locator('.bar-fill').evaluate(e => e.style.width);
    assert.equal(fill, '1%');
  });

  await t.test('edits a key in a dialog: only what changed is sent, errors stay in the dialog', async () => {
    const row = () => admin.locator('tr', {hasText: 'billing-service'});
    const before = (await api('GET', '/v1/keys', await contextKey(admin))).body.data.find(k => k.name === 'billing-service');
    const patches = [];
    admin.on('request', r => { if (r.method() === 'PATCH') patches.push(r.postDataJSON()); });

    // Cancel leaves the key alone.
    await row().getByRole('button', {name: 'Edit billing-service'}).click();
    let dlg = admin.getByRole('dialog');
    assert.equal(await dlg.getByLabel('Name').inputValue(), 'billing-service');
    assert.equal(await dlg.getByLabel('Spend limit (USD)').inputValue(), '5');
    assert.equal(await dlg.getByLabel('Limit resets').inputValue(), 'monthly');
    assert.ok(await dlg.getByLabel('openai/gpt-4o-mini').isChecked());
    await dlg.getByLabel('Spend limit (USD)').fill('7');
    await dlg.getByRole('button', {name: 'Cancel'}).click();
    await dlg.waitFor({state: 'detached'});
    await row().getByText(/of \$5\.00 this month$/).waitFor();

    // A refused change shows the API's message and keeps the dialog and its input.
    await row().getByRole('button', {name: 'Edit billing-service'}).click();
    dlg = admin.getByRole('dialog');
    await dlg.getByLabel('Name').fill('   ');
    await dlg.getByRole('button', {name: 'Save changes'}).click();
    await dlg.getByRole('alert').waitFor();
    assert.match(await dlg.getByRole('alert').textContent(), /name/i);

    // A real change: a larger daily limit, every model, prompt logging on.
    await dlg.getByLabel('Name').fill('billing-service');
    await dlg.getByLabel('Spend limit (USD)').fill('12.5');
    await dlg.getByLabel('Limit resets').selectOption('daily');
    await dlg.getByLabel('openai/gpt-4o-mini').uncheck();
    await dlg.getByLabel(/prompts and answers/).check();
    await shot(admin, 'keys-edit');
    await dlg.getByRole('button', {name: 'Save changes'}).click();
    await dlg.waitFor({state: 'detached'});
    await row().getByText(/of \$12\.50 today$/).waitFor();
    assert.match(await row().textContent(), /all models/);
    assert.deepEqual(patches.at(-1), {limit: 12.5, limit_reset: 'daily', allowed_models: [], prompt_logging: true},
      'the dialog sends only the fields the user changed');
    const after = (await api('GET', '/v1/keys', await contextKey(admin))).body.data.find(k => k.hash === before.hash);
    assert.equal(after.limit, 12.5);
    assert.equal(after.limit_reset, 'daily');
    assert.equal(after.allowed_models?.length ?? 0, 0, 'no restriction left');
    assert.equal(after.prompt_logging, true);
    assert.equal(after.expires_at, before.expires_at);
    assert.equal(after.include_byok_in_limit, before.include_byok_in_limit);
  });

  await t.test('names are rendered as text, never as markup (XSS)', async () => {
    for (const name of [XSS, XSS_IMG]) {
      await admin.getByLabel('Name').fill(name);
      await admin.getByRole('button', {name: 'Create key'}).click();
      await admin.locator('.once h3', {hasText: name}).waitFor();
      // The token is shown before the table is reloaded: wait for the new row itself.
      await admin.locator('tbody').getByText(name, {exact: true}).waitFor();
    }
    const names = await admin.locator('tbody .name').allTextContents();
    assert.ok(names.includes(XSS) && names.includes(XSS_IMG), names.join(' | '));
    assert.equal(await admin.locator('main img, main script, tbody script').count(), 0);
    assert.equal(await admin.evaluate(() => window.__xss), undefined);
    await shot(admin, 'keys');
  });

  await t.test('rotate, disable, enable and delete with confirmation', async () => {
    await admin.locator('tr', {hasText: XSS_IMG}).getByRole('button', {name: /^Rotate/}).click();
    await admin.getByRole('dialog').getByRole('button', {name: 'Rotate'}).click();
    await admin.locator('.once h3', {hasText: `New token for ${XSS_IMG}`}).waitFor();
    // The old token keeps working for an hour: both rows are listed, the old one expiring.
    await admin.locator('tr', {hasText: XSS_IMG}).nth(1).waitFor();
    const row = () => admin.locator('tr', {hasText: XSS});
    await row().getByRole('button', {name: /^Disable/}).click();
    await row().getByText('disabled', {exact: true}).waitFor();
    await row().getByRole('button', {name: /^Enable/}).click();
    await row().getByText('active', {exact: true}).waitFor();
    await row().getByRole('button', {name: /^Delete/}).click();
    await admin.getByRole('dialog').getByRole('button', {name: 'Cancel'}).click();
    assert.equal(await row().count(), 1, 'cancel keeps the key');
    await row().getByRole('button', {name: /^Delete/}).click();
    await admin.getByRole('dialog').getByRole('button', {name: 'Delete'}).click();
    await row().waitFor({state: 'detached'});
  });

  await t.test('activity: chart, table and CSV/PDF exports of the same view', async () => {
    await admin.getByRole('link', {name: 'Activity'}).click();
    await admin.locator('#total-cost').waitFor();
    assert.ok(await admin.locator('svg rect.bar-rect').count() >= 30);
    await admin.getByLabel('Group by').selectOption('model');
    await admin.getByRole('button', {name: 'Show'}).click();
    await admin.locator('#activity-table caption', {hasText: 'By model'}).waitFor();
    const row = admin.locator('#activity-table tbody tr', {hasText: 'openai/gpt-4o-mini'});
    assert.match(await row.textContent(), /3/);
    await shot(admin, 'activity');

    const [csv] = await Promise.all([admin.waitForEvent('download'), admin.getByRole('button', {name: 'Download CSV'}).click()]);
    assert.match(csv.suggestedFilename(), /^arouter-activity-.*-by-model\.csv$/);
    const text = await readFile(await csv.path(), 'utf8');
    assert.match(text.split('\r\n')[0], /^date,model,requests,/);
    assert.match(text, /openai\/gpt-4o-mini,3,/);

    const [pdf] = await Promise.all([admin.waitForEvent('download'), admin.getByRole('button', {name: 'Download PDF'}).click()]);
    assert.match(pdf.suggestedFilename(), /\.pdf$/);
    const bytes = await readFile(await pdf.path());
    assert.equal(bytes.subarray(0, 5).toString(), '%PDF-');
  });

  await t.test('providers: each deployment, refreshed on its own', async () => {
    await admin.getByRole('link', {name: 'Providers'}).click();
    const model = admin.locator('section[data-model="openai/gpt-4o-mini"]');
    await model.getByRole('row', {name: /mock-backup/}).waitFor();
    const mockRow = model.getByRole('row', {name: /^mock gpt-4o-mini/});
    assert.match(await mockRow.textContent(), /available.*closed.*100%/);
    const stamp = admin.getByText(/^Updated /);
    const first = await stamp.textContent();
    await admin.waitForFunction(t0 => [...document.querySelectorAll('p.note')].some(p => p.textContent.startsWith('Updated ') && p.textContent !== t0), first, {timeout: 12000});
    await shot(admin, 'providers');
  });

  await t.test('settings: prompt logging and provider keys (labels only)', async () => {
    await admin.getByRole('link', {name: 'Settings'}).click();
    await admin.getByText('Prompt logging is off').waitFor();
    await admin.getByLabel(/Store request bodies/).check();
    await admin.locator('#prompt-logging').getByRole('button', {name: 'Save'}).click();
    await admin.getByText('Prompt logging is ON').waitFor();
    const secret = 'provider-secret-1234567890';
    await admin.getByLabel('Provider', {exact: true}).fill('mock');
    await admin.getByLabel('Provider API key').fill(secret);
    await admin.getByRole('button', {name: 'Add provider key'}).click();
    await admin.locator('#byok tbody tr', {hasText: '7890'}).waitFor();
    assert.ok(!(await admin.content()).includes(secret), 'the provider secret must never be shown');
    await shot(admin, 'settings');
  });

  await t.test('keyboard: skip link first, then the pages', async () => {
    await admin.locator('body').click({position: {x: 1, y: 500}});
    await admin.evaluate(() => document.activeElement.blur());
    await admin.keyboard.press('Tab');
    assert.equal(await admin.evaluate(() => document.activeElement.textContent), 'Skip to content');
    await admin.keyboard.press('Tab');
    assert.equal(await admin.evaluate(() => document.activeElement.textContent), 'Keys');
    await admin.keyboard.press('Enter');
    await admin.getByRole('heading', {name: 'API keys'}).waitFor();
  });

  await t.test('switching back to the personal context', async () => {
    await admin.getByLabel('Account').selectOption({label: 'Personal (admin)'});
    await admin.getByText('No API keys in this context yet').waitFor();
    await admin.getByLabel('Account').selectOption({label: 'Platform Team (admin)'});
    await admin.locator('tr', {hasText: 'billing-service'}).waitFor();
  });

  await t.test('the member is not offered Admin controls, and the API refuses them', async () => {
    const member = await newPage();
    await signIn(member, memberKey);
    assert.match(await member.locator('#context option:checked').textContent(), /Platform Team \(member\)/);
    await member.getByText('No API keys in this context yet').waitFor(); // the admin's keys are not theirs
    await member.getByRole('link', {name: 'Organization'}).click();
    await member.getByText('managed by the organization\'s Admins').waitFor();
    for (const sel of ['#members', '#credits', '#add-member']) assert.equal(await member.locator(sel).count(), 0, sel);
    await shot(member, 'member-organization');
    await member.getByRole('link', {name: 'Settings'}).click();
    await member.getByText('Only Admins can change it.').waitFor();
    for (const sel of ['#byok', '#prompt-logging-toggle']) assert.equal(await member.locator(sel).count(), 0, sel);
    const me = await api('GET', '/v1/me', memberKey);
    const orgId = me.body.data.organization.id;
    assert.equal((await api('GET', `/v1/orgs/${orgId}/members`, memberKey)).status, 403);
    assert.equal((await api('GET', '/v1/byok', memberKey)).status, 403);
    // Their personal context: a key of theirs may mint one for it.
    await member.getByLabel('Account').selectOption({label: 'Personal (admin) — needs a key'});
    await member.getByRole('heading', {name: 'Switch to your personal context'}).waitFor();
    await shot(member, 'switch-context');
    await member.getByRole('button', {name: 'Create a key for my personal context'}).click();
    await member.getByRole('heading', {name: 'API keys'}).waitFor();
    assert.match(await member.locator('#context option:checked').textContent(), /^Personal/);
    await member.context().close();
  });

  await t.test('phone width: no sideways scrolling of the page', async () => {
    const orgKey = await admin.evaluate(() => JSON.parse(sessionStorage.getItem('arouter.keys'))[sessionStorage.getItem('arouter.current')]);
    const phone = await newPage({width: 390, height: 844});
    await signIn(phone, orgKey);
    await phone.locator('tr', {hasText: 'billing-service'}).waitFor();
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `page is ${overflow}px wider than the window`);
    await shot(phone, 'keys-phone');
    await phone.context().close();
  });

  await t.test('no CSP violations, script errors or dialogs', () => {
    assert.deepEqual(problems, []);
  });
});
