import { describeDurableCallbacks } from './callbacks-durable-scenario.ts';

describeDurableCallbacks('embedded bus');
