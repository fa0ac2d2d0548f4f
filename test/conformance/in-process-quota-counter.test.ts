/** InProcessQuotaCounter: the QuotaCounter conformance suite for the embedded gateway's count. */
import { InProcessQuotaCounter } from '../../gateway/quota/in-process-quota-counter.ts';
import { runQuotaCounterConformance } from './quota-counter.conformance.ts';

runQuotaCounterConformance('in-process', async (acceptedOnDay) => ({
  counter: new InProcessQuotaCounter(acceptedOnDay),
  cleanup: async () => {},
}));
