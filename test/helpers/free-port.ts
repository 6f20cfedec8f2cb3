/** A free TCP port on 127.0.0.1, for tests and benches that start servers of their own. */
import { createServer } from 'node:net';

/**
 * A TCP port on 127.0.0.1 that was free when asked (the probe socket is closed before this
 * resolves; another process may take the port after).
 * @throws (rejects) the listen error when no port can be bound
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
