// Prints the response headers helmet (with its defaults) sets, as JSON
// {"lower-case-name": "value"}, for caddy-apigw's security-headers
// comparison test. Usage: node helmet-headers.mjs [https]
import helmet from "helmet";

const secure = process.argv[2] === "https";
const headers = {};
const req = { secure, headers: {}, socket: { encrypted: secure } };
const res = {
  setHeader(name, value) { headers[name.toLowerCase()] = String(value); },
  removeHeader(name) { delete headers[name.toLowerCase()]; },
  getHeader(name) { return headers[name.toLowerCase()]; },
};
helmet()(req, res, (err) => {
  if (err) { console.error(err); process.exit(1); }
  process.stdout.write(JSON.stringify(headers));
});
