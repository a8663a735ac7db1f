// The official OpenAI client (npm "openai") against the gateway's OpenAI-compatible REST API: models, chat
// completions and completions, streaming (with usage) and not, n > 1 with seeds, logprobs, a server-side session
// through the X-SeaLion-Session header, and the errors the client surfaces. Exits 1 on any surprise.
//   cd ops/clients/node && npm ci && node openai-check.mjs [http://127.0.0.1:8080/v1]
import OpenAI from 'openai';
import assert from 'node:assert/strict';

const baseURL = process.argv[2] || 'http://127.0.0.1:8080/v1';
const client = new OpenAI({ baseURL, apiKey: process.env.SEALION_API_KEY || 'sk-none', maxRetries: 0 });

const models = await client.models.list();
const model = models.data[0].id;
console.log('models:', models.data.map((m) => m.id).join(', '));

const chat = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Apa kabar?' }], max_tokens: 8, temperature: 0 });
console.log('chat:', JSON.stringify(chat.choices[0].message), chat.choices[0].finish_reason, JSON.stringify(chat.usage));
assert.equal(chat.object, 'chat.completion'); assert.equal(chat.choices[0].message.role, 'assistant');
assert.ok(chat.usage.completion_tokens >= 1 && chat.usage.completion_tokens <= 8);

let text = '', chunks = 0, usage = null, finish = null;
const stream = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Apa kabar?' }], max_tokens: 8, temperature: 0, stream: true, stream_options: { include_usage: true } });
for await (const chunk of stream) {
  chunks++;
  if (chunk.usage) usage = chunk.usage;
  for (const c of chunk.choices) { text += c.delta?.content ?? ''; finish = c.finish_reason ?? finish; }
}
console.log('chat stream:', chunks, 'chunks, finish', finish, JSON.stringify(usage));
assert.equal(text, chat.choices[0].message.content, 'greedy: the stream spells the same text as the whole response');
assert.equal(usage.completion_tokens, chat.usage.completion_tokens);

const many = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Halo' }], max_tokens: 5, n: 3, seed: 7, logprobs: true, top_logprobs: 2 });
console.log('n=3:', many.choices.map((c) => c.index).join(','), 'logprobs per choice:', many.choices.map((c) => c.logprobs.content.length).join(','));
assert.equal(many.choices.length, 3); assert.equal(many.choices[0].logprobs.content[0].top_logprobs.length, 2);

const comp = await client.completions.create({ model, prompt: 'Selamat pagi', max_tokens: 6, temperature: 0, logprobs: 1 });
console.log('completion:', JSON.stringify(comp.choices[0].text), comp.choices[0].finish_reason, JSON.stringify(comp.usage));
assert.equal(comp.object, 'text_completion'); assert.equal(comp.choices[0].logprobs.tokens.length, comp.usage.completion_tokens);
let ctext = '';
for await (const chunk of await client.completions.create({ model, prompt: 'Selamat pagi', max_tokens: 6, temperature: 0, stream: true })) ctext += chunk.choices[0]?.text ?? '';
assert.equal(ctext, comp.choices[0].text);

const session = 'openai-' + Date.now();
const long = 'Halo! ' + 'Saya ingin belajar bahasa Vietnam. '.repeat(12);
const opts = { headers: { 'X-SeaLion-Session': session } };
const t1 = await client.chat.completions.create({ model, messages: [{ role: 'user', content: long }], max_tokens: 6, temperature: 0 }, opts);
const t2 = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Lanjut.' }], max_tokens: 6, temperature: 0 }, opts);
console.log('session: turn 1', JSON.stringify(t1.usage), '| turn 2', JSON.stringify(t2.usage));
assert.ok(t2.usage.prompt_tokens > t1.usage.prompt_tokens, 'turn 2 carries the history');
assert.ok(t2.usage.prompt_tokens_details.cached_tokens > 0, 'turn 2 reuses turn 1 from the prefix cache');

for (const [what, req, status] of [
  ['unknown model', { model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }, 404],
  ['over the context', { model, messages: [{ role: 'user', content: 'x' }], max_tokens: 9000 }, 400],
  ['bad temperature', { model, messages: [{ role: 'user', content: 'x' }], temperature: -1 }, 400],
  ['bad role', { model, messages: [{ role: 'robot', content: 'x' }] }, 400],
]) {
  try { await client.chat.completions.create(req); assert.fail(`${what} should fail`); }
  catch (e) { console.log(`${what}: ${e.status} ${e.error?.param ?? ''} | ${e.message}`); assert.equal(e.status, status); }
}
console.log('ok: the official OpenAI client works against', baseURL);
