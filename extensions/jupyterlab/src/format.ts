// Small text helpers: every value reaches the page as text (textContent), never as HTML.

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className = '',
  text = ''
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text) {
    node.textContent = text;
  }
  return node;
}

export function button(label: string, className: string, onClick: () => void, title = ''): HTMLButtonElement {
  const node = el('button', `jp-Button jp-mod-styled jp-mod-small wb-button ${className}`, label);
  node.type = 'button';
  node.title = title || label;
  node.addEventListener('click', event => {
    event.stopPropagation();
    onClick();
  });
  return node;
}

export function number(value: unknown, digits = 3): string {
  return typeof value === 'number' ? value.toFixed(digits) : value === null || value === undefined ? '-' : String(value);
}

export function duration(seconds: number | null): string {
  if (seconds === null || seconds === undefined) {
    return '-';
  }
  if (seconds < 60) {
    return `${seconds.toFixed(1)} s`;
  }
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${Math.round(seconds - minutes * 60)} s`;
}

export function time(iso: string | null): string {
  return iso ? iso.slice(0, 19).replace('T', ' ') : '-';
}

export function metrics(values: Record<string, unknown>): string {
  return Object.entries(values)
    .map(([key, value]) => `${key}=${typeof value === 'number' ? Number(value.toPrecision(4)) : String(value)}`)
    .join(', ');
}
