// Helpers shared by the cncfdemo MongoDB scripts. mongosh runs them; each script load()s this
// file first, so the functions below are globals of the script that loaded it.

const fs = require('fs');

// How often a wait asks again; the whole wait is bounded by the caller's seconds.
const POLL_INTERVAL_MS = 2000;

function log(message) {
  print(`[${new Date().toISOString()}] ${message}`);
}

function fail(message) {
  print(`[${new Date().toISOString()}] ERROR: ${message}`);
  quit(1);
}

function env(name, fallback) {
  const value = process.env[name];
  if (value !== undefined && value !== '') {
    return value;
  }
  if (fallback === undefined) {
    fail(`the environment variable ${name} is not set`);
  }
  return fallback;
}

function readSecret(path) {
  return fs.readFileSync(path, 'utf8').trim();
}

// Secrets arrive as files (a mounted Secret), never as environment variables; `name` is the
// variable holding the file's path.
function secretFile(name) {
  return readSecret(env(name));
}

// MongoDB ignores whitespace in a key file, so the password it derives from one has none.
function keyfileContent(name) {
  return fs.readFileSync(env(name), 'utf8').replace(/\s+/g, '');
}

// Throws rather than quits, so a wait can retry it and an uncaught one still fails the Job.
function check(result, what) {
  if (!result || result.ok !== 1) {
    throw new Error(`${what} failed: ${JSON.stringify(result)}`);
  }
  return result;
}

// The reply to a command, including a refusal: mongosh throws when the server answers ok: 0,
// and some refusals are answers here (a set that is not initiated yet). Network errors, which
// carry no server code, are still thrown.
function command(db, request) {
  try {
    return db.runCommand(request);
  } catch (err) {
    if (typeof err.code !== 'number') {
      throw err;
    }
    return { ok: 0, code: err.code, codeName: err.codeName, errmsg: err.message };
  }
}

// Ask `probe` again every POLL_INTERVAL_MS until it returns something truthy; give up after
// `seconds`. An exception counts as "not yet" (the member may still be starting), so a probe
// throws and never quits.
function waitFor(what, seconds, probe) {
  const deadline = Date.now() + seconds * 1000;
  let lastProblem = 'no answer yet';
  for (;;) {
    try {
      const result = probe();
      if (result) {
        return result;
      }
    } catch (err) {
      lastProblem = err.message;
    }
    if (Date.now() > deadline) {
      fail(`gave up waiting for ${what} after ${seconds} s: ${lastProblem}`);
    }
    sleep(POLL_INTERVAL_MS);
  }
}

function mongoUri(host, credentials) {
  const options = 'directConnection=true&serverSelectionTimeoutMS=5000';
  if (!credentials) {
    return `mongodb://${host}/?${options}`;
  }
  const user = encodeURIComponent(credentials.user);
  const password = encodeURIComponent(credentials.password);
  return `mongodb://${user}:${password}@${host}/?authSource=${credentials.db}&${options}`;
}

// Connects as the cluster's internal identity, whose password is the key file. The init Jobs
// need it because the localhost exception only serves a shell on the member's own host, and a
// Job never runs there; the Jobs mount the same key file that the members authenticate with.
function connectAsCluster(host, key) {
  return new Mongo(mongoUri(host, { user: '__system', password: key, db: 'local' }));
}

// A connection that has answered a ping, or an exception.
function pinged(connection) {
  check(connection.getDB('admin').runCommand({ ping: 1 }), 'ping');
  return connection;
}
