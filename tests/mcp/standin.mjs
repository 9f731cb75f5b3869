// A stand-in agent for tests/launch.sh (model sessions cannot run in make
// check): started by `baton launch` in a tmux window as
//   node standin.mjs BATON OUTDIR PROMPT
// it acts through `baton mcp` with the official SDK client, as an agent
// CLI would: joins in the role BATON_ROLE under the name BATON_AGENT that
// the launcher gave it, writes what it saw (name, role, cwd, prompt) to
// OUTDIR/NAME.json, and as the planner adds an implementer with
// launch_implementer and lists the launched agents.  Then it waits for
// mail until SIGTERM (what `baton launch --stop` sends), and records that
// it ended cleanly in OUTDIR/NAME.exit.
import { writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';

const [baton, out, prompt] = process.argv.slice(2);
process.env.BATON = baton;
const { loadSdk } = await import('./lib.mjs');
const sdk = await loadSdk();
const name = process.env.BATON_AGENT;
const role = process.env.BATON_ROLE;
let client = null;
let stopping = false;

// Write OUTDIR/FILE atomically: the test reads it as soon as it exists.
function put(file, value) {
  const tmp = join(out, `.${file}.tmp`);
  writeFileSync(tmp, JSON.stringify(value));
  renameSync(tmp, join(out, file));
}

// A tool's structuredContent, or {error} when it failed.
async function call(tool, args) {
  try {
    const res = await client.callTool({ name: tool, arguments: args }, undefined, { timeout: 60000 });
    if (res.isError) return { error: res.content.map((c) => c.text).join(' ') };
    return res.structuredContent;
  } catch (e) {
    return { error: e.message };
  }
}

process.on('SIGTERM', () => {
  stopping = true;
  put(`${name}.exit`, { name, signal: 'SIGTERM' });
  process.exit(0);
});

try {
  const transport = new sdk.StdioClientTransport({
    command: baton,
    args: ['mcp', '--tools', role === 'planner' ? 'planner' : 'full'],
    env: process.env,
    stderr: 'inherit',
  });
  client = new sdk.Client({ name: `standin-${name}`, version: '1.0.0' });
  await client.connect(transport);
  const joined = await call('agent_join', { role });
  const seen = { name, role, joined_as: joined.agent, joined_role: joined.role, cwd: process.cwd(), prompt };
  if (role === 'planner') {
    seen.launched = await call('launch_implementer', { type: 'stub', name: 'extra' });
    seen.bad_type = await call('launch_implementer', { type: 'nosuch' });
  }
  put(`${name}.json`, seen);
  while (!stopping) await call('message_inbox', { wait_seconds: 30 });
} catch (e) {
  put(`${name}.json`, { name, error: e.message });
  process.exit(1);
}
