/**
 * `perpbot data download`: Binance's public kline and funding-rate archives into data/ (see
 * src/market/download.ts). Registered on the program by main.ts.
 *
 * Exit codes: 0 done; 1 a download failed (HTTP/network error, 404, checksum mismatch); 2 bad
 * arguments (symbol, interval, range, URL).
 */
import type { Command } from 'commander';
import { DEFAULT_ARCHIVE_BASE_URL, downloadArchives } from '../market/download.ts';

/**
 * Add the `data` command group to `program`.
 * @param setExit records the exit code
 * @param fail maps an error to its exit code and prints it (main.ts's)
 */
export function dataCommand(program: Command, setExit: (code: number) => void, fail: (err: unknown) => number): void {
  const data = program.command('data').description('market data on hand');
  data
    .command('download')
    .description("download Binance's public USDⓈ-M kline archives (monthly, else daily zips, SHA-256 checked) and funding rates into data/")
    .requiredOption('--symbol <symbol>', 'USDⓈ-M symbol, e.g. BTCUSDT')
    .option('--interval <interval>', 'kline interval', '1m')
    .requiredOption('--from <YYYY-MM>', 'first month (UTC)')
    .requiredOption('--to <YYYY-MM>', 'last month, inclusive')
    .option('--base-url <url>', `archive base URL (a mirror)`, DEFAULT_ARCHIVE_BASE_URL)
    .option('--out <dir>', "output folder: klines to DIR/klines, funding to DIR/funding (default: the project's data/)")
    .option('--no-funding', 'klines only')
    .action(async (flags: { symbol: string; interval: string; from: string; to: string; baseUrl: string; funding: boolean; out?: string }) => {
      try {
        const r = await downloadArchives({
          symbol: flags.symbol.toUpperCase(),
          interval: flags.interval,
          from: flags.from,
          to: flags.to,
          baseUrl: flags.baseUrl,
          ...(flags.out !== undefined ? { outDir: flags.out } : {}),
          funding: flags.funding,
          onProgress: (line) => process.stdout.write(`${line}\n`),
        });
        for (const w of r.warnings) process.stderr.write(`perpbot: warning: ${w}\n`);
        const k = r.files.filter((f) => f.kind === 'klines').length;
        process.stdout.write(`${k} kline file(s), ${r.files.length - k} funding file(s) written\n`);
        setExit(0);
      } catch (err) {
        setExit(fail(err));
      }
    });
}
