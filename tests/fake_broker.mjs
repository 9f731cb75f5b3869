// A stand-in broker for the client's side of the protocol: it listens on
// SOCKET, welcomes every hello and answers every request as `status` would,
// claiming to be batond VERSION.  For what no real batond of this build can
// show (another version).  Usage: node fake_broker.mjs SOCKET VERSION; it
// prints "listening" once it does and serves until killed.
import net from "node:net";

const [sock, version] = process.argv.slice(2);

// msgpack, the little the frames use
function enc(v) {
	if (v === null) return Buffer.from([0xc0]);
	if (typeof v === "boolean") return Buffer.from([v ? 0xc3 : 0xc2]);
	if (typeof v === "number") {
		const b = Buffer.alloc(9);
		b[0] = 0xd3;
		b.writeBigInt64BE(BigInt(v), 1);
		return b;
	}
	if (typeof v === "string") {
		const s = Buffer.from(v);
		const h = Buffer.alloc(5);
		h[0] = 0xdb;
		h.writeUInt32BE(s.length, 1);
		return Buffer.concat([h, s]);
	}
	const keys = Object.keys(v);
	const h = Buffer.alloc(5);
	h[0] = 0xdf;
	h.writeUInt32BE(keys.length, 1);
	return Buffer.concat([h, ...keys.flatMap((k) => [enc(k), enc(v[k])])]);
}

function dec(b, p) {
	const t = b[p];
	const str = (n, q) => [b.toString("utf8", q, q + n), q + n];
	const map = (n, q) => {
		const o = {};
		for (let i = 0; i < n; i++) {
			let k, v;
			[k, q] = dec(b, q);
			[v, q] = dec(b, q);
			o[k] = v;
		}
		return [o, q];
	};
	const arr = (n, q) => {
		const a = [];
		for (let i = 0; i < n; i++) {
			let v;
			[v, q] = dec(b, q);
			a.push(v);
		}
		return [a, q];
	};
	if (t <= 0x7f) return [t, p + 1];
	if (t >= 0xe0) return [t - 0x100, p + 1];
	if ((t & 0xf0) === 0x80) return map(t & 0x0f, p + 1);
	if ((t & 0xf0) === 0x90) return arr(t & 0x0f, p + 1);
	if ((t & 0xe0) === 0xa0) return str(t & 0x1f, p + 1);
	switch (t) {
	case 0xc0: return [null, p + 1];
	case 0xc2: return [false, p + 1];
	case 0xc3: return [true, p + 1];
	case 0xcc: return [b.readUInt8(p + 1), p + 2];
	case 0xcd: return [b.readUInt16BE(p + 1), p + 3];
	case 0xce: return [b.readUInt32BE(p + 1), p + 5];
	case 0xcf: return [Number(b.readBigUInt64BE(p + 1)), p + 9];
	case 0xd0: return [b.readInt8(p + 1), p + 2];
	case 0xd1: return [b.readInt16BE(p + 1), p + 3];
	case 0xd2: return [b.readInt32BE(p + 1), p + 5];
	case 0xd3: return [Number(b.readBigInt64BE(p + 1)), p + 9];
	case 0xcb: return [b.readDoubleBE(p + 1), p + 9];
	case 0xd9: return str(b[p + 1], p + 2);
	case 0xda: return str(b.readUInt16BE(p + 1), p + 3);
	case 0xdb: return str(b.readUInt32BE(p + 1), p + 5);
	case 0xdc: return arr(b.readUInt16BE(p + 1), p + 3);
	case 0xde: return map(b.readUInt16BE(p + 1), p + 3);
	case 0xdf: return map(b.readUInt32BE(p + 1), p + 5);
	}
	throw new Error(`msgpack type 0x${t.toString(16)} not handled`);
}

function frame(o) {
	const body = enc(o);
	const h = Buffer.alloc(4);
	h.writeUInt32BE(body.length);
	return Buffer.concat([h, body]);
}

const status = {
	version, protocol: 1, pid: process.pid, uptime_seconds: 1, revision: 0,
	sessions: 1, locks: 0, waiters: 0, blocked: 0, project: "/", project_sessions: 1,
	project_locks: 0, session: "s1", agent: "fake", durability: "none",
};

const server = net.createServer((c) => {
	let buf = Buffer.alloc(0);
	c.on("data", (d) => {
		buf = Buffer.concat([buf, d]);
		while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
			const n = buf.readUInt32BE(0);
			const [f] = dec(buf.subarray(4, 4 + n), 0);
			buf = buf.subarray(4 + n);
			if (f.t === 1)
				c.write(frame({ t: 2, v: 1, session: "s1", token: "t", agent: "fake",
				    project: "/", version, reclaimed: 0 }));
			else if (f.t === 3)
				c.write(frame({ t: 4, id: f.id, ok: true, r: status }));
		}
	});
	c.on("error", () => {});
});
server.listen(sock, () => console.log("listening"));
