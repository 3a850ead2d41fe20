// "Run as job": a form built from the notebook's parameters cell, checked by the server
// (the same checks as `workbench run -p`) before anything starts; run now or on a cron schedule.
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { IParameter, post, request, WorkbenchError } from './api';
import { el } from './format';

interface INotebookParameters {
  path: string;
  name: string;
  parameters: IParameter[];
}

export interface IFormValue {
  parameters: Record<string, string>;
  name: string;
  cron: string;
}

/** The dialog's body: one text field per parameter (its current value as written in the cell). */
class RunForm extends Widget {
  private inputs = new Map<string, HTMLInputElement>();
  private nameInput: HTMLInputElement;
  private cronInput: HTMLInputElement;
  private preview: HTMLElement;
  private timer = 0;

  constructor(
    info: INotebookParameters,
    previous: IFormValue | null,
    error: WorkbenchError | null
  ) {
    super();
    this.addClass('wb-form');
    const node = this.node;
    if (error) {
      const box = el('div', 'wb-form-error', error.message);
      if (error.hint) {
        box.append(el('div', 'wb-hint', error.hint));
      }
      node.append(box);
    }
    if (info.parameters.length === 0) {
      node.append(el('p', 'wb-note', 'This notebook has no cell tagged "parameters": it runs as it is.'));
    } else {
      node.append(el('p', 'wb-note', 'Values are read as with workbench run -p (YAML: 3, 0.5, true, None, "text").'));
    }
    const table = el('table', 'wb-form-table');
    for (const parameter of info.parameters) {
      const row = el('tr');
      const label = el('label', '', parameter.name);
      const input = el('input', 'jp-mod-styled wb-param');
      input.name = parameter.name;
      input.dataset.default = parameter.default;
      input.value = previous?.parameters[parameter.name] ?? parameter.default;
      label.htmlFor = input.id = `wb-param-${parameter.name}`;
      row.append(el('td').appendChild(label).parentElement!, el('td', 'wb-type', parameter.type));
      const cell = el('td');
      cell.append(input);
      if (parameter.help) {
        cell.append(el('div', 'wb-hint', parameter.help));
      }
      row.append(cell);
      table.append(row);
      this.inputs.set(parameter.name, input);
    }
    node.append(table);
    this.nameInput = this.field('job name', 'wb-job-name', previous?.name ?? info.name);
    this.cronInput = this.field('schedule (cron, UTC; empty: run now)', 'wb-cron', previous?.cron ?? '');
    this.cronInput.placeholder = '*/30 * * * *';
    this.preview = el('div', 'wb-cron-preview');
    node.append(this.preview);
    this.cronInput.addEventListener('input', () => {
      window.clearTimeout(this.timer);
      this.timer = window.setTimeout(() => void this.showPreview(), 250);
    });
    if (this.cronInput.value) {
      void this.showPreview();
    }
  }

  private field(label: string, className: string, value: string): HTMLInputElement {
    const wrap = el('label', 'wb-field', label);
    const input = el('input', `jp-mod-styled ${className}`);
    input.value = value;
    wrap.append(input);
    this.node.append(wrap);
    return input;
  }

  private async showPreview(): Promise<void> {
    const cron = this.cronInput.value.trim();
    if (!cron) {
      this.preview.textContent = '';
      return;
    }
    try {
      const answer = await request<{ next: string[] }>(`schedules/preview?cron=${encodeURIComponent(cron)}`);
      if (this.cronInput.value.trim() === cron) {
        this.preview.textContent = 'next runs (UTC): ' + answer.next.map(t => t.replace('T', ' ').slice(0, 16)).join(', ');
        this.preview.classList.remove('wb-bad');
      }
    } catch (error) {
      this.preview.textContent = (error as Error).message;
      this.preview.classList.add('wb-bad');
    }
  }

  getValue(): IFormValue {
    const parameters: Record<string, string> = {};
    for (const [name, input] of this.inputs) {
      if (input.value !== input.dataset.default) {
        parameters[name] = input.value;
      }
    }
    return { parameters, name: this.nameInput.value.trim(), cron: this.cronInput.value.trim() };
  }
}

/** Show the form for ``path``; start the run (or add the schedule) the user asks for. Returns the run id. */
export async function runAsJob(path: string, onStarted: (runId: string) => void): Promise<string | null> {
  let info: INotebookParameters;
  try {
    info = await request<INotebookParameters>(`parameters?path=${encodeURIComponent(path)}`);
  } catch (error) {
    const problem = error as WorkbenchError;
    Notification.error(`Cannot run ${path}: ${problem.message}`, { autoClose: false });
    return null;
  }
  let previous: IFormValue | null = null;
  let refusal: WorkbenchError | null = null;
  for (;;) {
    const result: Dialog.IResult<IFormValue> = await showDialog<IFormValue>({
      title: `Run ${path} as a job`,
      body: new RunForm(info, previous, refusal),
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Run', className: 'wb-run-button' })],
      focusNodeSelector: 'input'
    });
    if (!result.button.accept || !result.value) {
      return null;
    }
    const value: IFormValue = result.value;
    previous = value;
    const body: Record<string, unknown> = { path, parameters: value.parameters, name: value.name };
    if (value.cron) {
      body.cron = value.cron;
    }
    try {
      const answer = await post<{ run_id?: string; schedule?: string; next?: string[] }>('runs', body);
      if (answer.run_id) {
        onStarted(answer.run_id);
        Notification.info(`Run ${answer.run_id} of ${value.name || info.name} started`, { autoClose: 4000 });
        return answer.run_id;
      }
      Notification.success(
        `Schedule ${answer.schedule} added; next runs (UTC): ${(answer.next || []).map(t => t.slice(0, 16)).join(', ')}`,
        { autoClose: 6000 }
      );
      return null;
    } catch (error) {
      refusal = error as WorkbenchError;
    }
  }
}
