import {
  UIElement,
  defaultRoot,
  displayText,
  listen,
  unwired,
  type AnyConnection,
  type WireRoot,
} from './element.js';

/** Rows per page of a table without `data-page-size`. */
const DEFAULT_PAGE_SIZE = 25;

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/** Sort order of two cells: numbers before text, empty cells last. */
function compareCells(a: unknown, b: unknown): number {
  const emptyA = a === null || a === undefined || a === '';
  const emptyB = b === null || b === undefined || b === '';
  if (emptyA || emptyB) return emptyA === emptyB ? 0 : emptyA ? 1 : -1;
  const numA = typeof a === 'number';
  const numB = typeof b === 'number';
  if (numA && numB) return a - b;
  if (numA !== numB) return numA ? -1 : 1;
  return collator.compare(displayText(a), displayText(b));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A `<table data-table>` that shows rows from the server: its signal's value
 * (`data-signal="data:rows"`) is a list of records (`[{x: 1, y: 2}, …]`,
 * the columns in the order their keys first appear) or `{columns, rows}`
 * (rows as lists or records). Click a column's header to sort by it (again
 * to reverse); long lists are shown a page at a time (`data-page-size`,
 * default 25; 0 shows every row) with the row count and Previous/Next
 * below. A new value updates the rows in place: the sort and the page stay.
 * Cells are text (a value that is no string or number as JSON): nothing in
 * a value becomes HTML.
 *
 * @example
 * <table data-signal="data:rows" data-table data-page-size="50"></table>
 */
export class Table extends UIElement<HTMLTableElement> {
  /** Rows per page (0: all). */
  pageSize: number;
  /** The current page, from 0. */
  page = 0;
  /** The column sorted by, if any, and its direction. */
  sortColumn: string | undefined;
  sortDescending = false;
  private columns: string[] = [];
  private rows: unknown[] = [];
  /** Row indexes in the order shown (sorted). */
  private order: number[] = [];
  private readonly head: HTMLTableSectionElement;
  private readonly body: HTMLTableSectionElement;
  private readonly footer: HTMLElement;
  private readonly countNode: HTMLElement;
  private readonly prevNode: HTMLButtonElement;
  private readonly nextNode: HTMLButtonElement;

  constructor(node: HTMLTableElement) {
    super(node);
    const doc = node.ownerDocument;
    const size = Number(node.getAttribute('data-page-size') ?? DEFAULT_PAGE_SIZE);
    this.pageSize = Number.isInteger(size) && size >= 0 ? size : DEFAULT_PAGE_SIZE;
    node.classList.add('db-table');
    this.head = node.createTHead();
    this.body = node.tBodies[0] ?? node.createTBody();
    this.footer = doc.createElement('div');
    this.footer.className = 'db-table-footer';
    this.countNode = doc.createElement('span');
    this.countNode.className = 'db-table-count';
    this.countNode.setAttribute('aria-live', 'polite');
    this.prevNode = this.pagerButton('Previous', -1);
    this.nextNode = this.pagerButton('Next', 1);
    this.footer.append(this.countNode, this.prevNode, this.nextNode);
    node.after(this.footer);
    this.render();
  }

  private pagerButton(text: string, step: number): HTMLButtonElement {
    const button = this.node.ownerDocument.createElement('button');
    button.type = 'button';
    button.className = 'secondary';
    button.textContent = text;
    button.setAttribute('data-skipwire', '');
    button.addEventListener('click', () => this.goTo(this.page + step));
    return button;
  }

  /** The number of pages (at least 1). */
  get pages(): number {
    if (this.pageSize === 0) return 1;
    return Math.max(1, Math.ceil(this.rows.length / this.pageSize));
  }

  /** Show page `page` (from 0; clamped to the pages there are). */
  goTo(page: number): this {
    this.page = Math.min(Math.max(0, Math.floor(page)), this.pages - 1);
    this.render();
    return this;
  }

  /** Sort by `column` (descending when `descending`); undefined: the server's order. */
  sortBy(column: string | undefined, descending = false): this {
    this.sortColumn = column;
    this.sortDescending = descending;
    this.sort();
    this.render();
    return this;
  }

  /** Show a value from the server: a list of records, or `{columns, rows}`. */
  value(value: unknown): this {
    let columns: string[];
    let rows: unknown[];
    if (isRecord(value) && Array.isArray(value['rows'])) {
      rows = value['rows'];
      columns = Array.isArray(value['columns'])
        ? value['columns'].map((c) => displayText(c))
        : keysOf(rows);
    } else if (Array.isArray(value)) {
      rows = value;
      columns = keysOf(rows);
    } else {
      rows = [];
      columns = [];
    }
    this.rows = rows;
    if (!sameList(columns, this.columns)) {
      this.columns = columns;
      this.renderHead();
    }
    if (this.sortColumn !== undefined && !columns.includes(this.sortColumn)) {
      this.sortColumn = undefined;
    }
    this.sort();
    // the page stays, unless the rows no longer reach it
    this.page = Math.min(this.page, this.pages - 1);
    this.render();
    return this;
  }

  /** The cell of row `row` in column `index`. */
  private cell(row: unknown, index: number): unknown {
    if (Array.isArray(row)) return row[index];
    if (isRecord(row)) return row[this.columns[index]!];
    return index === 0 ? row : undefined;
  }

  private sort(): void {
    const n = this.rows.length;
    const order = new Array<number>(n);
    for (let i = 0; i < n; i++) order[i] = i;
    const column = this.sortColumn === undefined ? -1 : this.columns.indexOf(this.sortColumn);
    if (column >= 0) {
      const keys = this.rows.map((row) => this.cell(row, column));
      const sign = this.sortDescending ? -1 : 1;
      // stable: equal cells keep the server's order
      order.sort((a, b) => {
        const ka = keys[a];
        const kb = keys[b];
        const emptyA = ka === null || ka === undefined || ka === '';
        const emptyB = kb === null || kb === undefined || kb === '';
        // empty cells last in either direction
        if (emptyA || emptyB) return emptyA === emptyB ? a - b : emptyA ? 1 : -1;
        return sign * compareCells(ka, kb) || a - b;
      });
    }
    this.order = order;
  }

  private renderHead(): void {
    const doc = this.node.ownerDocument;
    const tr = doc.createElement('tr');
    for (const column of this.columns) {
      const th = doc.createElement('th');
      th.scope = 'col';
      const button = doc.createElement('button');
      button.type = 'button';
      button.className = 'db-sort';
      button.setAttribute('data-skipwire', '');
      button.textContent = column;
      button.addEventListener('click', () => {
        const again = this.sortColumn === column;
        this.sortBy(column, again ? !this.sortDescending : false);
      });
      th.append(button);
      tr.append(th);
    }
    this.head.replaceChildren(tr);
  }

  /** The rows of the current page, reusing the row and cell elements already there. */
  private render(): void {
    const doc = this.node.ownerDocument;
    const start = this.pageSize === 0 ? 0 : this.page * this.pageSize;
    const end =
      this.pageSize === 0 ? this.order.length : Math.min(this.order.length, start + this.pageSize);
    const width = this.columns.length;
    const trs = this.body.rows;
    for (let i = start; i < end; i++) {
      const row = this.rows[this.order[i]!];
      let tr = trs[i - start];
      if (tr === undefined) {
        tr = doc.createElement('tr');
        this.body.append(tr);
      }
      while (tr.cells.length > width) tr.lastElementChild?.remove();
      while (tr.cells.length < width) tr.append(doc.createElement('td'));
      for (let c = 0; c < width; c++) {
        const td = tr.cells[c]!;
        const value = this.cell(row, c);
        const text = displayText(value);
        if (td.textContent !== text) td.textContent = text;
        td.classList.toggle('db-number', typeof value === 'number');
      }
    }
    while (trs.length > end - start) this.body.lastElementChild?.remove();
    // the header says how it is sorted
    const ths = this.head.rows[0]?.cells;
    if (ths) {
      for (let c = 0; c < ths.length; c++) {
        const sorted = this.columns[c] === this.sortColumn;
        ths[c]!.setAttribute(
          'aria-sort',
          sorted ? (this.sortDescending ? 'descending' : 'ascending') : 'none',
        );
      }
    }
    const total = this.rows.length;
    const count = total.toLocaleString();
    this.countNode.textContent =
      total === 0
        ? 'no rows'
        : this.pages === 1
          ? `${count} ${total === 1 ? 'row' : 'rows'}`
          : `rows ${(start + 1).toLocaleString()}–${end.toLocaleString()} of ${count}`;
    const paged = this.pages > 1;
    this.prevNode.hidden = this.nextNode.hidden = !paged;
    this.prevNode.disabled = this.page === 0;
    this.nextNode.disabled = this.page >= this.pages - 1;
  }

  /** Wire every `<table data-table>` with a signal under `root`. */
  static wire(connection: AnyConnection, root?: WireRoot): Table[] {
    return unwired<HTMLTableElement>(defaultRoot(root), 'table[data-table]')
      .filter((node) => UIElement.determineWireSignal(node) !== null)
      .map((node) => {
        const table = new Table(node);
        listen(connection, table.wireSignal, (value) => table.value(value));
        return table;
      });
  }
}

/** The keys of a list of records, in the order they first appear. */
function keysOf(rows: readonly unknown[]): string[] {
  const seen = new Set<string>();
  let lists = 0;
  for (const row of rows) {
    if (isRecord(row)) for (const key of Object.keys(row)) seen.add(key);
    else if (Array.isArray(row)) lists = Math.max(lists, row.length);
  }
  if (seen.size === 0 && lists > 0) return Array.from({ length: lists }, (_, i) => String(i));
  // a list of plain values: one column
  if (seen.size === 0 && rows.length > 0) return ['value'];
  return [...seen];
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
