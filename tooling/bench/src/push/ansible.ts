/**
 * Ansible against the sshd farm for `-m copy`: the ops benchmark's settings (forks, pipelining, ControlPersist,
 * pinned interpreter, host keys checked), plus ssh at LogLevel VERBOSE logging to a file so that each connection's
 * `Transferred:` line — written when it ends — counts the bytes the controller sent.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { SshFarm } from '../ops/sshd.js'

export interface AnsibleSetup {
  env: NodeJS.ProcessEnv
  /** where every ssh process of Ansible's appends its log */
  sshLog: string
  controlDir: string
}

/** Writes ansible.cfg and the inventory for the farm. */
export function ansibleCopySetup(
  farm: SshFarm,
  opts: { forks: number; kex: string | undefined; dir: string },
): AnsibleSetup {
  const dir = opts.dir
  const controlDir = join(dir, 'cp')
  mkdirSync(controlDir, { recursive: true })
  const sshLog = join(dir, 'ssh.log')
  const kex = opts.kex === undefined ? '' : ` -o KexAlgorithms=${opts.kex}`
  writeFileSync(join(dir, 'inventory.ini'), ['[fleet]', ...farm.addrs, ''].join('\n'))
  writeFileSync(
    join(dir, 'ansible.cfg'),
    [
      '[defaults]',
      `inventory = ${join(dir, 'inventory.ini')}`,
      `forks = ${opts.forks}`,
      'host_key_checking = True',
      'interpreter_python = /usr/bin/python3',
      `local_tmp = ${join(dir, 'local-tmp')}`,
      `remote_tmp = ${join(dir, 'remote-tmp')}`,
      'nocolor = True',
      'retry_files_enabled = False',
      '[ssh_connection]',
      'pipelining = True',
      `ssh_args = -F ${farm.sshConfig} -o ControlMaster=auto -o ControlPersist=60s${kex} -o LogLevel=VERBOSE -E ${sshLog}`,
      // explicit, so that the masters can be told to exit with the same path
      `control_path = ${controlDir}/%%C`,
      '',
    ].join('\n'),
  )
  return {
    env: { ...process.env, ANSIBLE_CONFIG: join(dir, 'ansible.cfg'), ANSIBLE_NOCOLOR: '1', ANSIBLE_FORCE_COLOR: '0' },
    sshLog,
    controlDir,
  }
}

/**
 * Asks every ControlPersist master to exit (`ssh -O exit`), so that each writes its `Transferred:` line and the next
 * run starts cold like the other tools.
 */
export async function closeMasters(farm: SshFarm, setup: AnsibleSetup): Promise<void> {
  await Promise.all(
    farm.addrs.map(
      addr =>
        new Promise<void>(resolve => {
          const c = spawn(
            'ssh',
            ['-F', farm.sshConfig, '-o', `ControlPath=${setup.controlDir}/%C`, '-O', 'exit', addr],
            { stdio: 'ignore' },
          )
          c.once('close', () => resolve())
          c.once('error', () => resolve())
        }),
    ),
  )
  // the masters log on their way out
  await new Promise(r => setTimeout(r, 500))
}
