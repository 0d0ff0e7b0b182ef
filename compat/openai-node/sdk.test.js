// OpenAI's official Node.js SDK (the `openai` package, pinned in package-lock.json) against a
// real ARouter gateway on loopback, changing only the base URL and the key. What an
// application written for OpenAI relies on: completions whole and streamed, the SDK's stream
// helpers, usage (with ARouter's cost), forced tool calls and the turn after them, the same
// through the Anthropic and Gemini translations, the model list, and every refusal raised as
// the SDK's error class for its status, carrying ARouter's message.
import {test, before, after} from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import {startGateway} from '../../dashboard/e2e/gateway.js';

// Two more mocks in the providers' own wire formats, and one model per provider that a test
// may break on purpose (a provider that answered 429 is skipped for a while; the other
// models must not share it).
const providers = `  - id: mock-anthropic
    kind: mock
    mock: {wire: anthropic, event_delay: 1ms, tokens: 16}
  - id: mock-gemini
    kind: mock
    mock: {wire: gemini, event_delay: 1ms, tokens: 16}
  - id: mock-faults
    kind: mock
    mock: {event_delay: 1ms, tokens: 16}
`;
const models = `  - id: anthropic/claude-haiku-4-5
    pricing: {prompt: "1", completion: "5"}
    deployments:
      - {provider: mock-anthropic, model: claude-haiku-4-5}
  - id: google/gemini-2.5-flash
    pricing: {prompt: "0.30", completion: "2.50"}
    deployments:
      - {provider: mock-gemini, model: gemini-2.5-flash}
  - id: test/faults
    pricing: {prompt: "1", completion: "1"}
    deployments:
      - {provider: mock-faults, model: faults}
`;

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather in a city',
    parameters: {type: 'object', properties: {city: {type: 'string'}}, required: ['city']},
  },
};
const question = [{role: 'user', content: 'What is the weather in Paris?'}];

let gw, client;

// management calls the gateway's Management API as the instance admin.
async function management(method, path, body) {
  const res = await fetch(gw.url + path, {
    method,
    headers: {Authorization: `Bearer ${gw.adminKey}`, 'Content-Type': 'application/json'},
    body: body && JSON.stringify(body),
  });
  const json = await res.json();
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

// newClient is what an application does: OpenAI's client, with ARouter's URL and a key.
// No retries, so that each refusal is seen once.
const newClient = apiKey => new OpenAI({baseURL: `${gw.url}/v1`, apiKey, maxRetries: 0});

async function newKey(settings) {
  return (await management('POST', '/v1/keys', settings)).key;
}

before(async () => {
  gw = await startGateway({providers, models});
  client = newClient(await newKey({name: 'node-sdk'}));
});

after(async () => {
  await gw?.stop();
});

// rejection awaits promise, which must fail with an error of class cls and status.
async function rejection(promise, cls, status) {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof cls, `want ${cls.name}, got ${err?.constructor?.name}: ${err}`);
    assert.equal(err.status, status);
    return err;
  }
  assert.fail(`want ${cls.name} (${status}), the call succeeded`);
}

for (const model of ['openai/gpt-4o-mini', 'anthropic/claude-haiku-4-5', 'google/gemini-2.5-flash']) {
  test(`completions through ${model}`, async t => {
    let whole;
    await t.test('whole, with usage and cost', async () => {
      whole = await client.chat.completions.create({model, messages: question, max_tokens: 100});
      assert.equal(whole.object, 'chat.completion');
      assert.equal(whole.model, model);
      assert.ok(whole.choices[0].message.content.length > 0);
      assert.equal(whole.choices[0].finish_reason, 'stop');
      const u = whole.usage;
      assert.equal(u.completion_tokens, 16);
      assert.ok(u.prompt_tokens > 0);
      assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
      assert.ok(u.cost > 0, `usage.cost: ${JSON.stringify(u)}`);
    });

    await t.test('streamed by iterating, with the usage chunk asked for', async () => {
      const stream = await client.chat.completions.create({
        model, messages: question, max_tokens: 100, stream: true, stream_options: {include_usage: true},
      });
      let text = '', usage, finish, chunks = 0;
      for await (const chunk of stream) {
        chunks++;
        assert.equal(chunk.object, 'chat.completion.chunk');
        if (chunk.usage) usage = chunk.usage;
        for (const c of chunk.choices) {
          text += c.delta.content ?? '';
          finish = c.finish_reason ?? finish;
        }
      }
      assert.ok(chunks >= 16, `${chunks} chunks`);
      assert.equal(text, whole.choices[0].message.content);
      assert.equal(finish, 'stop');
      assert.equal(usage?.completion_tokens, 16);
      assert.ok(usage.cost > 0);
    });

    await t.test('streamed through the SDK helper, which assembles the completion', async () => {
      const runner = client.chat.completions.stream({model, messages: question, max_tokens: 100});
      let deltas = '';
      runner.on('content', delta => { deltas += delta; });
      const done = await runner.finalChatCompletion();
      assert.equal(done.choices[0].message.content, whole.choices[0].message.content);
      assert.equal(deltas, whole.choices[0].message.content);
    });

    await t.test('a forced tool call, whole and streamed, then the turn after it', async () => {
      const forced = {model, messages: question, tools: [weatherTool], tool_choice: 'required'};
      const c = await client.chat.completions.create(forced);
      assert.equal(c.choices[0].finish_reason, 'tool_calls');
      const calls = c.choices[0].message.tool_calls;
      assert.equal(calls.length, 1);
      assert.equal(calls[0].type, 'function');
      assert.equal(calls[0].function.name, 'get_weather');
      const args = JSON.parse(calls[0].function.arguments);
      assert.equal(typeof args.city, 'string');

      const done = await client.chat.completions.stream(forced).finalChatCompletion();
      const streamed = done.choices[0].message.tool_calls;
      assert.equal(streamed.length, 1);
      assert.equal(streamed[0].function.name, 'get_weather');
      assert.deepEqual(JSON.parse(streamed[0].function.arguments), args);
      assert.equal(done.choices[0].finish_reason, 'tool_calls');

      const next = await client.chat.completions.create({
        model, tools: [weatherTool],
        messages: [...question, c.choices[0].message,
          {role: 'tool', tool_call_id: calls[0].id, content: JSON.stringify({city: args.city, celsius: 18})}],
      });
      assert.equal(next.choices[0].finish_reason, 'stop');
      assert.ok(next.choices[0].message.content.length > 0);
    });
  });
}

test('the model list', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  for (const id of ['openai/gpt-4o-mini', 'anthropic/claude-haiku-4-5', 'google/gemini-2.5-flash']) {
    assert.ok(ids.includes(id), `${id} missing from ${ids}`);
  }
  const m = await client.models.retrieve('anthropic/claude-haiku-4-5'); // the SDK escapes the "/"
  assert.equal(m.id, 'anthropic/claude-haiku-4-5');
  assert.equal(m.object, 'model');
  await rejection(client.models.retrieve('nope/x'), OpenAI.NotFoundError, 404);
});

test('refusals are the SDK error class for their status', async t => {
  const ask = (c, extra = {}) => c.chat.completions.create({model: 'openai/gpt-4o-mini', messages: question, ...extra});

  await t.test('400 BadRequestError: a malformed request', async () => {
    const err = await rejection(ask(client, {max_tokens: 'many'}), OpenAI.BadRequestError, 400);
    assert.equal(err.type, 'invalid_request_error');
    assert.match(err.message, /max_tokens/);
  });

  await t.test('400 BadRequestError: the provider refuses a field, which err.param names', async () => {
    const err = await rejection(client.chat.completions.create({model: 'openai/gpt-4o-mini', messages: [{role: 'robot', content: 'hi'}]}),
      OpenAI.BadRequestError, 400);
    assert.equal(err.param, 'messages[0].role');
    assert.match(err.message, /robot/);
    assert.equal(err.error.metadata.provider_code, 'invalid_value');
  });

  await t.test('401 AuthenticationError: an unknown key', async () => {
    await rejection(ask(newClient('sk-ar-v1-' + '0'.repeat(64))), OpenAI.AuthenticationError, 401);
  });

  await t.test('403 PermissionDeniedError: a model the key may not use', async () => {
    const restricted = newClient(await newKey({name: 'anthropic-only', allowed_models: ['anthropic/*']}));
    const err = await rejection(ask(restricted), OpenAI.PermissionDeniedError, 403);
    assert.match(err.message, /openai\/gpt-4o-mini/);
  });

  await t.test('404 NotFoundError: a model the gateway does not serve', async () => {
    const err = await rejection(ask(client, {model: 'nope/missing'}), OpenAI.NotFoundError, 404);
    assert.match(err.message, /nope\/missing/);
  });

  await t.test('402 APIError: the key has spent its limit', async () => {
    const spent = newClient(await newKey({name: 'no-budget', limit: 0}));
    const err = await rejection(ask(spent), OpenAI.APIError, 402);
    assert.match(err.message, /limit/);
  });

  await t.test('500s InternalServerError: the provider failed', async () => {
    // `mock` is the mock provider's per-request behaviour; ARouter forwards unknown fields.
    const err = await rejection(ask(client, {model: 'test/faults', mock: {fault: 'status', fault_status: 500}}),
      OpenAI.InternalServerError, 502);
    assert.match(err.message, /mock-faults/);
  });

  await t.test('a stream the provider breaks off raises from the iteration', async () => {
    const stream = await ask(client, {model: 'test/faults', stream: true, mock: {fault: 'disconnect', fault_after: 2}});
    let text = '';
    await assert.rejects(async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    }, err => err instanceof OpenAI.APIError && /ended the stream/.test(err.message));
    assert.ok(text.length > 0, 'the events before the break were delivered');
  });

  await t.test('429 RateLimitError: the provider rate-limited the request', async () => {
    // Last: the deployment is skipped for Retry-After's 30 s from here on.
    const err = await rejection(ask(client, {model: 'test/faults', mock: {fault: 'rate_limit', retry_after: 30}}),
      OpenAI.RateLimitError, 429);
    assert.equal(err.type, 'rate_limit_error');
    assert.ok(Number(err.headers.get('retry-after')) > 0, 'Retry-After tells the SDK when to retry');
  });
});
