/**
 * drizzle-kit configuration: `npx drizzle-kit generate` (or `npm run db:generate`) diffs
 * `database/schema.ts` against the last snapshot in `database/migrations/meta/` and writes the
 * next SQL migration there. The migrations are committed and applied at start by
 * `openDatabase` (database/client.ts); drizzle-kit never touches a live database here.
 */
import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'sqlite',
  schema: './database/schema.ts',
  out: './database/migrations',
  strict: true,
  verbose: true,
});
