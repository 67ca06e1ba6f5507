/** calico_vpc_api_writes_total: every write the operator makes, so "a no-op resync writes nothing" is observable. */
import { counter, perRegistry, type Registry } from '../observability/metrics.js';

export const writeMetrics = perRegistry((registry: Registry) =>
  counter(registry, {
    name: 'calico_vpc_api_writes_total',
    help: 'Writes the operator made to the API server, by verb and resource.',
    labelNames: ['verb', 'resource'] as const,
  }),
);
