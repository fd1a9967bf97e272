// Drives timon serve's OpenAI-compatible API with the official openai npm
// client, for integration-tests/openai_clients_test.go: it prints one JSON
// object with what the client got, which the Go test checks together with
// what the fake model received.
import OpenAI from "openai";

const { TIMON_URL, TIMON_TOKEN, TIMON_MAIL, TIMON_TERM } = process.env;
const client = new OpenAI({ baseURL: TIMON_URL, apiKey: TIMON_TOKEN, maxRetries: 0, timeout: 30_000 });
const out = { errors: {} };

const chat = await client.chat.completions.create({
  model: "timon",
  messages: [{ role: "user", content: `About ${TIMON_TERM}` }],
});
out.chat = chat.choices[0].message.content;

out.chatChunks = [];
const chatStream = await client.chat.completions.create({
  model: "timon",
  messages: [{ role: "user", content: `Say hello to ${TIMON_MAIL} in a long enough sentence` }],
  stream: true,
  stream_options: { include_usage: true },
});
for await (const chunk of chatStream) out.chatChunks.push(chunk);

out.completion = await client.completions.create({
  model: "codestral-latest",
  prompt: `// by ${TIMON_MAIL}\npackage m\n\nfunc add(a, b int) int {`,
  suffix: `\n\n// project ${TIMON_TERM}\n`,
  max_tokens: 64,
  temperature: 0.1,
  stop: ["\n\n\n"],
});

out.completionStream = "";
const completionStream = await client.completions.create({
  model: "timon",
  prompt: "func add(a, b int) int {",
  suffix: "\n",
  stream: true,
});
for await (const chunk of completionStream) out.completionStream += chunk.choices[0]?.text ?? "";

// No encoding_format: the client asks for base64 and decodes it.
const emb = await client.embeddings.create({ model: "mistral-embed", input: [`write to ${TIMON_MAIL}`, "nothing to hide"] });
out.embeddings = emb.data.map((d) => Array.from(d.embedding));

async function refused(name, call) {
  try {
    await call();
    out.errors[name] = { status: 0, message: "no error" };
  } catch (e) {
    if (!(e instanceof OpenAI.APIError)) throw e;
    out.errors[name] = { status: e.status, type: e.type, code: e.code, param: e.param, message: e.message };
  }
}
await refused("tools", () =>
  client.chat.completions.create({
    model: "timon",
    messages: [{ role: "user", content: "hi" }],
    tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: {} } } }],
  }),
);
await refused("n", () => client.completions.create({ model: "timon", prompt: "x", n: 2 }));
await refused("auth", () =>
  new OpenAI({ baseURL: TIMON_URL, apiKey: "timon_nope", maxRetries: 0 }).completions.create({ model: "timon", prompt: "x" }),
);

process.stdout.write(JSON.stringify(out));
