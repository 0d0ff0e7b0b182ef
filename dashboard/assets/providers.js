// Providers: every model's deployments with their status, breaker state, uptime and latency,
// read from the public GET /v1/models/{author}/{slug}/endpoints and refreshed every few seconds.
import {get} from './api.js';
import {h, fill, errorBox, empty} from './ui.js';

const EVERY = 5000;

const pct = u => (u === null || u === undefined ? '—' : `${(u * 100).toFixed(u === 1 ? 0 : 1)}%`);
const ms = v => (v === null || v === undefined ? '—' : `${Number(v).toFixed(v < 10 ? 1 : 0)} ms`);
const percentiles = p => (p ? ['p50', 'p90', 'p99'].filter(k => k in p).map(k => `${k} ${ms(p[k])}`).join(' · ') : '—');

export async function render(main) {
  const box = h('div');
  const stamp = h('p', {class: 'note', 'aria-live': 'off'});
  fill(main, h('h1', {}, 'Providers'),
    h('p', {class: 'note'}, `Each deployment's state as the gateway routes. Refreshes every ${EVERY / 1000} seconds.`),
    stamp, box);

  let stopped = false;
  async function load() {
    try {
      const models = (await get('/v1/models')).data;
      const all = await Promise.all(models.map(m => get(`/v1/models/${m.id.split('/').map(encodeURIComponent).join('/')}/endpoints`)));
      if (stopped) return;
      if (!models.length) { fill(box, empty('No models are configured.')); return; }
      fill(box, all.map(r => section(r.data)));
      stamp.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (e) {
      if (!stopped) fill(box, errorBox(e));
    }
  }
  await load();
  const timer = setInterval(load, EVERY);
  return () => { stopped = true; clearInterval(timer); };
}

function section(m) {
  return h('section', {class: 'card', 'data-model': m.id},
    h('h2', {}, m.name || m.id, ' ', h('code', {class: 'hint'}, m.id)),
    h('p', {class: 'hint'}, `Routing policy: ${m.routing_policy}`),
    m.endpoints.length ? h('div', {class: 'scroll'}, h('table', {},
      h('thead', {}, h('tr', {}, ['Provider', 'Status', 'Breaker', 'Uptime 5m', 'Uptime 30m', 'Uptime 1d', 'Requests 5m', 'Latency 5m', 'First byte 5m'].map(t => h('th', {scope: 'col'}, t)))),
      h('tbody', {}, m.endpoints.map(e => {
        const w = (e.windows && e.windows['5m']) || {};
        return h('tr', {},
          h('th', {scope: 'row'}, e.provider_name, h('br'), h('span', {class: 'hint'}, e.upstream_model)),
          h('td', {}, h('span', {class: `badge ${e.healthy && e.status === 'available' ? 'on' : 'off'}`}, e.status)),
          h('td', {}, h('span', {class: `badge ${e.breaker === 'closed' ? 'on' : 'off'}`}, e.breaker)),
          h('td', {class: 'n'}, pct(e.uptime_last_5m)), h('td', {class: 'n'}, pct(e.uptime_last_30m)),
          h('td', {class: 'n'}, pct(e.uptime_last_1d)), h('td', {class: 'n'}, String(w.requests ?? 0)),
          h('td', {}, percentiles(w.latency_ms)), h('td', {}, percentiles(w.ttfb_ms)));
      })))) : empty('No deployments.'));
}
