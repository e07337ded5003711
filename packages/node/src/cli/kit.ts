/**
 * `@pnet/node/cli`: the command-line kit both CLIs (`pnet`, `ops-agent`) are built with — a commander program that
 * throws instead of exiting, usage errors as one line with the closest command or option suggested, examples in
 * every command's help, and a bash completion script generated from the command tree.
 *
 * @example
 * ```ts
 * import { createProgram, example, parseCommandLine } from '@pnet/node/cli'
 * const program = createProgram('mytool', '1.0.0', 'says hello', {
 *   stdout: t => process.stdout.write(t),
 *   stderr: t => process.stderr.write(t),
 * })
 * example(program.command('hello').action(() => console.log('hi')), 'mytool hello')
 * process.exitCode = (await parseCommandLine(program, process.argv.slice(2))) ?? 0
 * ```
 */
export { bashCompletion } from './completion.js'
export { type CliOutput, CommandLineError, createProgram, example, parseCommandLine } from './program.js'
