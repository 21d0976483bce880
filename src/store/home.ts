/** Where Vard keeps its state on the operator's machine (state files, labs, final dumps). */
export function vardHome(): string {
  return process.env.VARD_HOME ?? '/var/lib/vard';
}
