/** Why an artifact could not be built; `code` is stable, the message names the file, package or tool involved. */
export class ArtifactError extends Error {
  override readonly name = 'ArtifactError'
  constructor(
    readonly code: 'ERR_FETCH' | 'ERR_INTEGRITY' | 'ERR_BUNDLE' | 'ERR_INPUT',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options)
  }
}
