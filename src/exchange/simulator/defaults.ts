/**
 * The simulator's defaults, apart from its server so that the CLI can name them in its help
 * without loading the server (and its websocket and HTTP stack) for every command.
 */
import { projectPath } from '../../core/paths.ts';

/** Default API key of the simulator (send it as `X-MBX-APIKEY`). */
export const DEFAULT_SIM_API_KEY = 'perpbot-sim-key';
/** Default API secret of the simulator (HMAC-SHA256 key of `signature`). */
export const DEFAULT_SIM_API_SECRET = 'perpbot-sim-secret';
/** Default exchangeInfo file: the recorded mainnet response bundled in data/. */
export const DEFAULT_SIM_EXCHANGE_INFO = projectPath('data', 'exchange-info', 'fapi-exchangeInfo-2024-10-02.json');
