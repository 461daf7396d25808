// Validation of option bags: every call that takes options rejects a
// non-object and unknown names, and quotes bad values with their type.
import { InvalidOptionError, describeValue } from './errors'

/**
 * Throws ERR_INVALID_OPTION unless `options` is undefined or a plain object
 * whose own names are all in `known`. `where` names the call in messages.
 */
export function checkOptions(options: unknown, known: readonly string[], where: string): void {
  if (options === undefined) return
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidOptionError(`Expected the options of ${where} to be an object, got ${describeValue(options)}`)
  }
  for (const name of Object.keys(options)) {
    if (!known.includes(name)) {
      throw new InvalidOptionError(`Unknown option ${JSON.stringify(name)} for ${where}; known options: ${known.join(', ')}`)
    }
  }
}

/** The integer option `name`, or `dflt` when absent; throws ERR_INVALID_OPTION when not accepted by `ok`. */
export function integerOption(value: unknown, dflt: number, name: string, expected: string, ok: (n: number) => boolean): number {
  if (value === undefined) return dflt
  if (typeof value !== 'number' || !Number.isInteger(value) || !ok(value)) {
    throw new InvalidOptionError(`Expected the ${JSON.stringify(name)} option to be ${expected}, got ${describeValue(value)}`)
  }
  return value
}
