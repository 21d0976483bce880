/** nftables is no daemon: "running" means Vard's table is loaded, "reload" loads the current ruleset. */
import { rejectOn, type DaemonDriver } from '../../daemon/index.ts';
import { vardError } from '../../errors/index.ts';
import { currentDir } from '../../render/index.ts';
import { FW_TABLE } from './render.ts';

const load = async (host: Parameters<DaemonDriver['start']>[0]) => void (await host.run(['nft', '-f', `${currentDir('nftables')}/ruleset.nft`]));

const nftables: DaemonDriver = {
  name: 'nftables',
  async prepare() {},
  check: (host, dir) => rejectOn(host, 'nftables', ['nft', '-c', '-f', `${dir}/ruleset.nft`]),
  async running(host) {
    return (await host.run(['nft', 'list', 'table', 'inet', FW_TABLE], { allowFail: true })).exitCode === 0;
  },
  start: load,
  reload: load,
  async ready(host) {
    if (!(await nftables.running(host))) throw vardError('VARD_ERR_NOT_READY', ['nftables', host.name, 0, `table inet ${FW_TABLE} missing`]);
  },
  async stop(host) {
    await host.run(['nft', 'delete', 'table', 'inet', FW_TABLE], { allowFail: true });
  },
};

export const FIREWALL_DAEMONS: Readonly<Record<string, DaemonDriver>> = { nftables };
