// Returns once mongos answers a ping, so the container after it starts against a live router.
// Run by mongosh in an init container: MONGOS_HOST, WAIT_SECONDS.

load(`${process.env.SCRIPTS_DIR}/lib.js`);

const mongosHost = env('MONGOS_HOST');
const waitSeconds = Number(env('WAIT_SECONDS', '600'));

waitFor(`mongos at ${mongosHost}`, waitSeconds, () => pinged(new Mongo(mongoUri(mongosHost))));
log(`mongos at ${mongosHost} answers`);
