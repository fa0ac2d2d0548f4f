import { testAdapterFixtures } from '../sdk/vitest.ts';
import adapter from './adapter.ts';

testAdapterFixtures(adapter, import.meta.dirname);
