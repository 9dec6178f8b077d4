// What every bench SipApp does around its callbacks: counts the callbacks the server answered
// for it after their deadline and the errors, exits when the stream breaks (a benchmark must not
// measure a reconnecting app), prints `started {...}` once joined, `stats {...}` on SIGUSR2 and
// before stopping on SIGINT/SIGTERM. `stats` is the app's own counter object, extended here.
export function serveBenchApp(app, stats, started = {}) {
  stats.expired ??= 0;
  stats.errors ??= 0;
  app.on('callbackExpired', () => stats.expired++);
  app.on('callbackError', () => stats.errors++);
  app.on('error', () => stats.errors++);
  app.on('disconnected', (err) => {
    process.stdout.write(`disconnected ${err?.message ?? ''}\n`);
    process.exit(1);
  });
  process.stdout.write(`started ${JSON.stringify({ ...started, instanceId: app.instanceId })}\n`);
  process.on('SIGUSR2', () => process.stdout.write(`stats ${JSON.stringify(stats)}\n`));
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      process.stdout.write(`stats ${JSON.stringify(stats)}\n`);
      const done = () => process.exit(0);
      app.stop().then(done, done);
      setTimeout(done, 3000).unref();
    });
  }
}
