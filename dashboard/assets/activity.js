// Activity: usage over a date range grouped by model, key, member, provider or day, a bar
// chart of the daily cost and tokens (SVG drawn here), and the CSV/PDF exports of that view.
import {get, download} from './api.js';
import {h, s, fill, field, errorBox, empty, usd, num, busy, toast} from './ui.js';

const day = 864e5;
const iso = d => d.toISOString().slice(0, 10);

// The view survives re-renders (an export after changing nothing downloads what is shown).
const view = {from: iso(new Date(Date.now() - 29 * day)), to: iso(new Date()), group: 'day'};

// query is the API's query for the view: `to` is inclusive on screen, exclusive in the API.
function query(extra = {}) {
  const to = iso(new Date(Date.parse(view.to) + day));
  return new URLSearchParams({from: view.from, to, group_by: view.group, ...extra}).toString();
}

const labelOf = {
  day: g => g.date,
  model: g => g.model,
  provider: g => g.provider,
  key: g => `${g.key_name} (${g.key_label})`,
  member: g => g.member_email,
};

export async function render(main) {
  const from = h('input', {type: 'date', value: view.from, required: true});
  const to = h('input', {type: 'date', value: view.to, required: true});
  const group = h('select', {}, ['day', 'model', 'key', 'member', 'provider'].map(g =>
    h('option', {value: g, selected: g === view.group}, g)));
  const out = h('div', {'aria-live': 'polite'});
  const status = h('div');
  const apply = h('button', {type: 'submit'}, 'Show');
  const csv = h('button', {type: 'button', onclick: () => exportAs(csv, 'csv')}, 'Download CSV');
  const pdf = h('button', {type: 'button', onclick: () => exportAs(pdf, 'pdf')}, 'Download PDF');

  async function exportAs(btn, format) {
    await busy(btn, async () => {
      try {
        const name = await download(`/v1/activity/export?${query({format})}`);
        fill(status);
        toast(`Downloaded ${name}`);
      } catch (e) { fill(status, errorBox(e)); }
    });
  }

  async function load() {
    view.from = from.value;
    view.to = to.value;
    view.group = group.value;
    fill(out, h('p', {class: 'loading'}, 'Loading…'));
    try {
      const days = (await get(`/v1/activity?${query({group_by: 'day'})}`)).data;
      const grouped = view.group === 'day' ? days : (await get(`/v1/activity?${query()}`)).data;
      fill(status);
      draw(days, grouped);
    } catch (e) { fill(out, errorBox(e)); }
  }

  function draw(days, grouped) {
    const t = grouped.totals;
    const totals = h('dl', {class: 'figures'},
      h('div', {}, h('dt', {}, 'Requests'), h('dd', {}, num(t.requests))),
      h('div', {}, h('dt', {}, 'Tokens'), h('dd', {}, num(t.prompt_tokens + t.completion_tokens))),
      h('div', {}, h('dt', {}, 'Cost'), h('dd', {id: 'total-cost'}, usd(t.cost))));
    if (!t.requests) {
      fill(out, totals, empty('No requests in this period. Use a key through /v1/chat/completions and they show up here.'));
      return;
    }
    const series = everyDay(days);
    const label = labelOf[grouped.group_by];
    const table = h('div', {class: 'scroll'}, h('table', {id: 'activity-table'},
      h('caption', {}, `By ${grouped.group_by}, ${grouped.from.slice(0, 10)} to ${grouped.to.slice(0, 10)} (exclusive)`),
      h('thead', {}, h('tr', {}, [grouped.group_by, 'Requests', 'Prompt tokens', 'Completion tokens', 'Cost'].map(c => h('th', {scope: 'col'}, c)))),
      h('tbody', {}, grouped.groups.map(g => h('tr', {},
        h('th', {scope: 'row'}, label(g)), h('td', {class: 'n'}, num(g.requests)),
        h('td', {class: 'n'}, num(g.prompt_tokens)), h('td', {class: 'n'}, num(g.completion_tokens)),
        h('td', {class: 'n'}, usd(g.cost)))))));
    fill(out, totals,
      h('div', {class: 'charts'},
        chart('Daily cost (USD)', series, d => d.cost, usd),
        chart('Daily tokens', series, d => d.prompt_tokens + d.completion_tokens, num)),
      table);
  }

  fill(main, h('h1', {}, 'Activity'),
    h('form', {class: 'card inline', onsubmit: e => { e.preventDefault(); busy(apply, load); }},
      field('From', from), field('To (inclusive)', to), field('Group by', group), apply,
      h('span', {class: 'spacer'}), csv, pdf),
    status, out);
  await load();
}

// everyDay fills the days without requests with zeros, so that the chart's x axis is time.
function everyDay(report) {
  const by = new Map(report.groups.map(g => [g.date, g]));
  const out = [];
  for (let t = Date.parse(report.from); t < Date.parse(report.to); t += day) {
    const d = iso(new Date(t));
    out.push(by.get(d) || {date: d, cost: 0, prompt_tokens: 0, completion_tokens: 0, requests: 0});
  }
  return out;
}

// chart draws one bar per day in SVG, scaled to the largest value, with a text summary for
// screen readers and a <title> on each bar for pointers.
function chart(title, series, value, fmt) {
  const W = 600, H = 160, left = 4, bottom = 18, top = 16;
  const max = Math.max(...series.map(value), 0);
  const bw = (W - left) / Math.max(series.length, 1);
  const bars = series.map((d, i) => {
    const v = value(d);
    const bh = max > 0 ? ((H - bottom - top) * v) / max : 0;
    return s('rect', {x: (left + i * bw + bw * 0.1).toFixed(2), y: (H - bottom - bh).toFixed(2),
      width: Math.max(bw * 0.8, 0.5).toFixed(2), height: Math.max(bh, v > 0 ? 1 : 0).toFixed(2), class: 'bar-rect'},
    s('title', {}, `${d.date}: ${fmt(v)}`));
  });
  const peak = series.reduce((a, d) => (value(d) > value(a) ? d : a), series[0]);
  return h('figure', {class: 'chart'},
    s('svg', {viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${title}: peak ${fmt(max)} on ${peak.date}`},
      s('line', {x1: 0, x2: W, y1: H - bottom, y2: H - bottom, class: 'axis'}),
      s('text', {x: 2, y: 11, class: 'tick'}, `max ${fmt(max)}`),
      s('text', {x: 2, y: H - 4, class: 'tick'}, series[0].date),
      s('text', {x: W - 2, y: H - 4, class: 'tick end'}, series[series.length - 1].date),
      bars),
    h('figcaption', {}, title));
}
