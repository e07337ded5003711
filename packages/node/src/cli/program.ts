/**
 * The commander glue both CLIs (`pnet`, `ops-agent`) share: output through the caller's writers instead of
 * process.exit, usage errors as one line with commander's "did you mean" suggestion, an example on every help page.
 */
import { Command, CommanderError } from 'commander'

/** Where a CLI writes: stdout for results and help, stderr for errors. */
export interface CliOutput {
  stdout(text: string): void
  stderr(text: string): void
}

/** A command line that does not parse: unknown command or option, missing or extra argument (exit 2). */
export class CommandLineError extends Error {
  override readonly name = 'CommandLineError'
  readonly code = 'ERR_COMMAND_LINE'
  /** commander's own code, e.g. `commander.unknownOption` */
  readonly commanderCode: string

  constructor(message: string, commanderCode: string) {
    super(message)
    this.commanderCode = commanderCode
  }
}

/**
 * A root command that writes to `io` and throws instead of exiting. Settings are copied to subcommands when they are
 * created with `.command()`, so this must be the root the whole tree is built on.
 *
 * @example
 * ```ts
 * const program = createProgram('pnet', '0.1.0', 'run a node and inspect it', io)
 * example(program.command('id').option('--key <file>'), 'pnet id --key node.key').action(…)
 * const code = await parseCommandLine(program, process.argv.slice(2))
 * ```
 */
export function createProgram(name: string, version: string, description: string, io: CliOutput): Command {
  return (
    new Command(name)
      .description(description)
      .version(version, '-V, --version', 'print the version')
      .helpOption('-h, --help', 'show this help')
      .helpCommand('help [command]', 'show the help of a command')
      .showSuggestionAfterError(true)
      .exitOverride()
      // the caller prints the error (one line, its own prefix) from the CommandLineError
      .configureOutput({ writeOut: s => io.stdout(s), writeErr: s => io.stderr(s), outputError: () => {} })
  )
}

/** Adds an `Example:` section to the command's help page. */
export function example<C extends Command>(cmd: C, ...lines: string[]): C {
  cmd.addHelpText('after', `\nExample${lines.length > 1 ? 's' : ''}:\n${lines.map(l => `  ${l}`).join('\n')}`)
  return cmd
}

/** commander's messages, made one line in the style of the rest of the CLI's errors. */
function oneLine(err: CommanderError, cmdPath: string): string {
  let m = err.message.replace(/^error: /, '')
  const suggestion = /\n\(Did you mean (.+)\)$/.exec(m)
  m = m.replace(/\n\(Did you mean .+\)$/, '')
  if (err.code === 'commander.unknownCommand') m = m.replace(/'([^']*)'/, '"$1"')
  const badOption = /^option '(\S+)[^']*' argument '(.*)' is invalid\. Allowed choices are (.*)\.$/s.exec(m)
  if (badOption !== null) m = `${badOption[1]} must be one of ${badOption[3]}, got "${badOption[2]}"`
  const badArg = /^command-argument value '(.*)' is invalid for argument '(.*)'\. Allowed choices are (.*)\.$/s.exec(m)
  if (badArg !== null) m = `${(badArg[2] ?? '').toUpperCase()} must be one of ${badArg[3]}, got "${badArg[1]}"`
  if (suggestion !== null) return `${m} (did you mean ${suggestion[1]})`
  if (err.code === 'commander.unknownCommand' || err.code === 'commander.unknownOption') {
    return `${m} (try ${cmdPath} --help)`
  }
  return m
}

/**
 * Parses `argv` (without node and script) and runs the matching action. Resolves to `undefined` when an action ran
 * (its exit code is the action's business), 0 when help or the version was printed, 2 when the help was printed
 * because no command was given. Throws CommandLineError for a command line that does not parse.
 */
export async function parseCommandLine(program: Command, argv: string[]): Promise<number | undefined> {
  // the command whose help names the flags, for "try … --help": the last subcommand word before the first option
  let at = program
  const path = [program.name()]
  for (const word of argv) {
    const next = at.commands.find(c => c.name() === word || c.aliases().includes(word))
    if (next === undefined) break
    at = next
    path.push(next.name())
  }
  try {
    await program.parseAsync(argv, { from: 'user' })
    return undefined
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0
    // `help CMD` prints with exit code 0; a bare program name prints the help as an error
    if (err.code === 'commander.help') return err.exitCode === 0 ? 0 : 2
    throw new CommandLineError(oneLine(err, path.join(' ')), err.code)
  }
}
