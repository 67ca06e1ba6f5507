import { register } from 'tsx/esm/api';

register();
const { teardownIntegration } = await import('./setup-control-plane.ts');
export default teardownIntegration;
