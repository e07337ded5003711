/**
 * Shell completion generated from a commander command tree: commander has none built in, and a hand-written word
 * list drifts from the real commands the first time someone adds a flag.
 */
import type { Command, Option } from 'commander'

/** One command of the tree, flattened: its path of names and the words that may follow it. */
interface Node {
  path: string
  subcommands: string[]
  options: string[]
  /** options that take a value → the values to offer: choices, file names, or nothing (a number, an address) */
  valued: Map<string, readonly string[] | 'files' | 'none'>
  /** argument choices (e.g. `completion <shell>`), offered like subcommands */
  argChoices: string[]
  takesArgs: boolean
}

function optionNames(o: Option): string[] {
  return [o.long, o.short].filter((n): n is string => n !== undefined)
}

function walk(cmd: Command, path: string, into: Node[]): void {
  const help = cmd.createHelp()
  const commands = help.visibleCommands(cmd)
  const options = help.visibleOptions(cmd)
  const valued = new Map<string, readonly string[] | 'files' | 'none'>()
  for (const o of options) {
    if (!o.required && !o.optional) continue
    // the placeholder says what the value is: <file>, <path>, <dir> are completed from the file system
    const offer = o.argChoices ?? (/<(file|path|dir|local)>|\[(file|path|dir)\]/i.test(o.flags) ? 'files' : 'none')
    for (const n of optionNames(o)) valued.set(n, offer)
  }
  into.push({
    path,
    subcommands: commands.map(c => c.name()),
    options: options.flatMap(o => (o.long !== undefined ? [o.long] : optionNames(o))),
    valued,
    argChoices: cmd.registeredArguments.flatMap(a => a.argChoices ?? []),
    takesArgs: cmd.registeredArguments.length > 0,
  })
  for (const c of commands) {
    if (cmd.commands.includes(c)) walk(c, `${path}/${c.name()}`, into)
    // commander's implicit `help [command]` is no Command of ours: it takes the names of its siblings
    else if (c.name() === 'help') {
      const siblings = cmd.commands.filter(s => commands.includes(s)).map(s => s.name())
      into.push({
        path: `${path}/help`,
        subcommands: siblings,
        options: [],
        valued: new Map(),
        argChoices: [],
        takesArgs: false,
      })
    }
  }
}

/** A word list for `compgen -W`, quoted for a double-quoted bash string. */
function words(list: readonly string[]): string {
  return list.join(' ').replace(/(["\\$`])/g, '\\$1')
}

/**
 * A bash completion script for `program` and every command under it: subcommand names, each command's options, the
 * choices of options and arguments that have them, and file names for other option values.
 *
 * @example
 * ```ts
 * process.stdout.write(bashCompletion(program))   // then: source <(pnet completion bash)
 * ```
 */
export function bashCompletion(program: Command): string {
  const name = program.name()
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, '_')}_complete`
  const nodes: Node[] = []
  walk(program, '', nodes)
  const descend = nodes
    .filter(n => n.path !== '')
    .map(n => `"${n.path}"`)
    .join('|')
  const valueCases: string[] = []
  const wordCases: string[] = []
  for (const n of nodes) {
    for (const [opt, choices] of n.valued) {
      const reply =
        choices === 'files'
          ? 'COMPREPLY=($(compgen -f -- "$cur"))'
          : choices === 'none'
            ? 'COMPREPLY=()'
            : `COMPREPLY=($(compgen -W "${words(choices)}" -- "$cur"))`
      valueCases.push(`    "${n.path}:${opt}") ${reply}; return 0 ;;`)
    }
    wordCases.push(
      `    "${n.path}") opts="${words(n.options)}"; cmds="${words([...n.subcommands, ...n.argChoices])}"; files=${n.takesArgs ? 1 : 0} ;;`,
    )
  }
  return `# bash completion for ${name}, generated from its command tree by \`${name} completion bash\`
# load it with:  source <(${name} completion bash)
# or install it: ${name} completion bash > /etc/bash_completion.d/${name}
${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" path="" i w opts="" cmds="" files=0
  COMPREPLY=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    # after --, the words belong to a remote command: complete file names
    if [[ $w == -- ]]; then COMPREPLY=($(compgen -f -- "$cur")); return 0; fi
    case "$path/$w" in
      ${descend === '' ? '"/"' : descend}) path="$path/$w" ;;
    esac
  done
  case "$path:$prev" in
${valueCases.join('\n')}
  esac
  case "$path" in
${wordCases.join('\n')}
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$cmds" -- "$cur"))
    if [[ \${#COMPREPLY[@]} -eq 0 && $files -eq 1 ]]; then COMPREPLY=($(compgen -f -- "$cur")); fi
  fi
  return 0
}
complete -F ${fn} ${name}
`
}
