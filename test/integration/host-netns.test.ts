// The Host contract against a lab host (network, UTS, mount and PID namespaces under an init).
import { after } from 'node:test';
import { labDown, labUp } from '../../src/lab/index.ts';
import { PRESETS } from '../../src/roles/registry.ts';
import { hostContract } from '../contract/host-contract.ts';

const LAB = 'tnsc';
after(async () => {
  await labDown(LAB);
});

hostContract('netns', async () => {
  await labDown(LAB);
  const lab = await labUp({ name: LAB, shape: PRESETS.single! });
  const host = lab.host('node1');
  const scratch = '/srv/contract';
  await host.mkdir(scratch);
  return { host, scratch, cleanup: () => host.remove(scratch, { recursive: true }) };
});
