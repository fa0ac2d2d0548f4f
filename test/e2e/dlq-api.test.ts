/** The operators' dead-letter API and `gw dlq show` on the embedded SQLite bus (dlq-api-scenario.ts). */
import { deadLetterApiScenario } from './dlq-api-scenario.ts';

deadLetterApiScenario('sqlite', () => ({ GATEWAY_BUS: 'sqlite' }));
