/**
 * What the pipeline stages report, at the cost of one histogram observation or counter increment:
 * the labelled children are made once here, so the hot path builds no label objects.
 *
 *   const t = stageStart();
 *   … the stage …
 *   deps.instruments?.stage('ingress.sign', t);
 *   deps.instruments?.outcome('accepted');
 */
import type { Counter, Histogram } from 'prom-client';
import {
  MESSAGE_OUTCOMES,
  type MessageOutcome,
  type Metrics,
  PIPELINE_STAGES,
  type PipelineStage,
} from './metrics.ts';

/** A start time for `stage()`: monotonic milliseconds. */
export const stageStart = (): number => performance.now();

export class PipelineInstruments {
  private readonly stages: Record<PipelineStage, ReturnType<Histogram<'stage'>['labels']>>;
  private readonly outcomes: Record<MessageOutcome, ReturnType<Counter<'outcome'>['labels']>>;

  constructor(metrics: Pick<Metrics, 'stageSeconds' | 'messages'>) {
    this.stages = Object.fromEntries(
      PIPELINE_STAGES.map((s) => [s, metrics.stageSeconds.labels(s)]),
    ) as Record<PipelineStage, ReturnType<Histogram<'stage'>['labels']>>;
    this.outcomes = Object.fromEntries(
      MESSAGE_OUTCOMES.map((o) => [o, metrics.messages.labels(o)]),
    ) as Record<MessageOutcome, ReturnType<Counter<'outcome'>['labels']>>;
  }

  /** Records the duration of `stage` that began at `startedAt` (from stageStart()). */
  stage(stage: PipelineStage, startedAt: number): void {
    this.stages[stage].observe((performance.now() - startedAt) / 1000);
  }

  outcome(outcome: MessageOutcome, count = 1): void {
    this.outcomes[outcome].inc(count);
  }
}
