// Jest loads global setup with Node's own ESM loader (no moduleNameMapper, no ts-jest), so register tsx to load
// the TypeScript sources, then hand over to setup-control-plane.ts.
import { register } from 'tsx/esm/api';

register();
const { setupIntegration } = await import('./setup-control-plane.ts');
export default setupIntegration;
