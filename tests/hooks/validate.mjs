// JSON Schema checks for tests/hooks.sh, with ajv pinned in tests/mcp.
//
//   node validate.mjs probe
//       exit 0 when ajv can be loaded
//   node validate.mjs extract CODEX_BINARY DIR
//       write the hook schemas the installed Codex publishes (embedded in
//       its binary: *.command.input / *.command.output) to DIR/TITLE.json
//   node validate.mjs check SCHEMA[#DEFINITION] FILE...
//       validate each FILE (one JSON value) against the schema; prints
//       "ok FILE" or "not ok FILE: errors"; exits 1 when one failed
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

function loadAjv() {
	const top = [process.env.TOP_SRCDIR, process.env.TOP_BUILDDIR].filter(Boolean);
	for (const d of top) {
		try {
			const req = createRequire(join(d, 'tests/mcp/package.json'));
			return req('ajv');
		} catch (e) { /* try the next */ }
	}
	throw new Error('ajv is not installed in tests/mcp (npm ci there, or ./bootstrap)');
}

// The JSON object starting at i, by counting braces outside strings.
function objectAt(buf, i) {
	let depth = 0, inStr = false, esc = false;
	for (let j = i; j < buf.length; j++) {
		const c = buf[j];
		if (inStr) {
			if (esc) esc = false;
			else if (c === 0x5c) esc = true;
			else if (c === 0x22) inStr = false;
		} else if (c === 0x22) inStr = true;
		else if (c === 0x7b) depth++;
		else if (c === 0x7d && --depth === 0) return buf.subarray(i, j + 1).toString();
	}
	return null;
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'probe') {
	loadAjv();
	process.exit(0);
} else if (cmd === 'extract') {
	const [bin, dir] = args;
	const buf = readFileSync(bin);
	const mark = Buffer.from('{\n  "$schema": "http://json-schema.org/draft-07/schema#"');
	let n = 0;
	for (let i = buf.indexOf(mark); i !== -1; i = buf.indexOf(mark, i + 1)) {
		const text = objectAt(buf, i);
		let s;
		try { s = JSON.parse(text); } catch (e) { continue; }
		if (typeof s.title === 'string' && /\.command\.(input|output)$/.test(s.title)) {
			writeFileSync(join(dir, s.title + '.json'), JSON.stringify(s, null, 1));
			n++;
		}
	}
	console.log(`extracted ${n} schemas`);
	process.exit(n > 0 ? 0 : 1);
} else if (cmd === 'check') {
	const Ajv = loadAjv();
	const [spec, ...files] = args;
	const [path, def] = spec.split('#');
	const ajv = new Ajv({ allErrors: true, strict: false });
	const schema = JSON.parse(readFileSync(path, 'utf8'));
	const validate = def ? (ajv.addSchema(schema, 's'), ajv.getSchema(`s#/definitions/${def}`))
	    : ajv.compile(schema);
	let bad = 0;
	for (const f of files) {
		let v;
		try { v = JSON.parse(readFileSync(f, 'utf8')); } catch (e) {
			console.log(`not ok ${f}: not JSON: ${e.message}`); bad++; continue;
		}
		if (validate(v)) console.log(`ok ${f}`);
		else { console.log(`not ok ${f}: ${ajv.errorsText(validate.errors)}`); bad++; }
	}
	process.exit(bad ? 1 : 0);
} else {
	console.error('usage: validate.mjs extract BIN DIR | check SCHEMA[#DEF] FILE...');
	process.exit(2);
}
