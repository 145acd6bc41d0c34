import { DatabenchError } from '../../protocol/errors.js';

/** A Tornado template that cannot be translated (code `TEMPLATE_SYNTAX`): file and line are in the message. */
export class TemplateSyntaxError extends DatabenchError {
  constructor(
    message: string,
    readonly file: string,
    readonly line: number,
  ) {
    super('TEMPLATE_SYNTAX', `${file}:${line}: ${message}`);
    this.name = 'TemplateSyntaxError';
  }
}
