// The "workbench" side panel: runs, schedules and models, following the stores live.
// It long-polls /workbench/api/state?since=FINGERPRINT: the server answers as soon as the
// state changes (it reads the stores about three times a second), else after 20 s.
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { IModel, IPromotion, IRun, ISchedule, IState, IVersion, post, request, WorkbenchError } from './api';
import { button, duration, el, metrics, number, time } from './format';

const RETRY_MS = 2000;

export interface IPanelActions {
  openOutput(runId: string): Promise<void>;
  openDashboard(): void;
}

export class WorkbenchPanel extends Widget {
  private fingerprint = '';
  private statuses = new Map<string, string>();
  private watched = new Set<string>();
  private banner: HTMLElement;
  private runs: HTMLElement;
  private schedules: HTMLElement;
  private models: HTMLElement;
  private average = 'macro';
  private running = false;

  constructor(private actions: IPanelActions) {
    super();
    this.id = 'workbench-panel';
    this.addClass('wb-panel');
    this.title.caption = 'workbench: runs, schedules, models';
    const header = el('div', 'wb-header');
    header.append(el('h2', '', 'workbench'), button('Dashboard', 'wb-open-dashboard', () => actions.openDashboard(),
      'open the dashboard page in a tab'));
    this.banner = el('div', 'wb-banner');
    this.runs = el('div', 'wb-section wb-runs');
    this.schedules = el('div', 'wb-section wb-schedules');
    this.models = el('div', 'wb-section wb-models');
    this.node.append(header, this.banner, this.section('Runs', this.runs), this.section('Schedules', this.schedules),
      this.section('Models', this.models));
  }

  private section(title: string, body: HTMLElement): HTMLElement {
    const wrap = el('section');
    wrap.append(el('h3', '', title), body);
    return wrap;
  }

  /** Notify when this run ends (a run started from this Lab). */
  watch(runId: string): void {
    this.watched.add(runId);
  }

  /** Follow the stores until the panel is disposed. */
  start(): void {
    if (this.running) {
      return;
    }
    this.running = true;
    void this.loop();
  }

  private async loop(): Promise<void> {
    while (!this.isDisposed) {
      try {
        const query = this.fingerprint ? `?since=${this.fingerprint}` : '';
        const state = await request<IState>(`state${query}`);
        this.banner.textContent = '';
        if (state.fingerprint !== this.fingerprint) {
          this.fingerprint = state.fingerprint;
          this.render(state);
        }
      } catch (error) {
        const problem = error as WorkbenchError;
        this.banner.textContent = `workbench: ${problem.message}${problem.hint ? ` (${problem.hint})` : ''}`;
        await new Promise(resolve => window.setTimeout(resolve, RETRY_MS));
      }
    }
  }

  private render(state: IState): void {
    this.average = state.average;
    this.node.dataset.fingerprint = state.fingerprint;
    this.notifyEnded(state.runs);
    this.runs.replaceChildren(...(state.runs.length ? state.runs.map(r => this.runRow(r)) : [el('p', 'wb-empty', 'no runs yet')]));
    this.schedules.replaceChildren(
      ...(state.schedules.length ? state.schedules.map(s => this.scheduleRow(s)) : [el('p', 'wb-empty', 'no schedules')])
    );
    this.models.replaceChildren(
      ...(state.models.length ? state.models.map(m => this.modelBlock(m)) : [el('p', 'wb-empty', 'no models registered')])
    );
  }

  private notifyEnded(runs: IRun[]): void {
    for (const run of runs) {
      const before = this.statuses.get(run.run_id);
      this.statuses.set(run.run_id, run.status);
      if (run.status === 'running' || !this.watched.has(run.run_id) || before === run.status) {
        continue;
      }
      this.watched.delete(run.run_id);
      const actions = run.has_output
        ? [{ label: 'Open output', callback: () => void this.actions.openOutput(run.run_id) }]
        : [];
      if (run.status === 'succeeded') {
        Notification.success(`Run ${run.run_id} of ${run.job} succeeded in ${duration(run.duration)}`, {
          actions,
          autoClose: 8000
        });
      } else {
        Notification.error(`Run ${run.run_id} of ${run.job} failed (${run.reason}): ${run.error ?? ''}`, {
          actions,
          autoClose: false
        });
      }
    }
  }

  private act(label: string, work: () => Promise<unknown>): void {
    work().catch((error: WorkbenchError) =>
      Notification.error(`${label}: ${error.message}${error.hint ? ` (${error.hint})` : ''}`, { autoClose: 8000 })
    );
  }

  private runRow(run: IRun): HTMLElement {
    const row = el('div', `wb-row wb-run wb-run-${run.status}`);
    row.dataset.runId = run.run_id;
    row.dataset.status = run.status;
    const head = el('div', 'wb-line');
    head.append(
      el('span', 'wb-job', run.job),
      el('span', `wb-status wb-status-${run.status}`, run.status),
      el('span', 'wb-duration', run.status === 'running' ? `since ${time(run.started_at).slice(11)}` : duration(run.duration))
    );
    row.append(head, el('div', 'wb-small wb-run-id', `${run.run_id} · ${run.notebook}`));
    const params = metrics(run.parameters);
    if (params) {
      row.append(el('div', 'wb-small wb-params', `parameters: ${params}`));
    }
    const values = metrics(run.metrics);
    if (values) {
      row.append(el('div', 'wb-small wb-metrics', values));
    }
    if (run.status === 'failed') {
      const where = run.failed_cell !== null ? ` at cell ${run.failed_cell}` : '';
      row.append(el('div', 'wb-reason', `${run.reason}${where}: ${run.error ?? ''}`));
    }
    const tools = el('div', 'wb-tools');
    if (run.has_output) {
      tools.append(button('Open output', 'wb-open-output', () => this.act('Open output', () => this.actions.openOutput(run.run_id))));
    }
    if (run.status === 'running') {
      tools.append(button('Cancel', 'wb-cancel', () => this.act('Cancel', () => post(`runs/${run.run_id}/cancel`))));
    } else {
      tools.append(
        button('Re-run', 'wb-rerun', () =>
          this.act('Re-run', async () => this.watch((await post<{ run_id: string }>(`runs/${run.run_id}/rerun`)).run_id))
        , 'run again with the same parameters')
      );
    }
    row.append(tools);
    return row;
  }

  private scheduleRow(schedule: ISchedule): HTMLElement {
    const row = el('div', 'wb-row wb-schedule');
    row.dataset.schedule = schedule.name;
    const head = el('div', 'wb-line');
    head.append(el('span', 'wb-job', schedule.name), el('span', 'wb-cron', schedule.cron));
    if (schedule.paused) {
      head.append(el('span', 'wb-status wb-status-paused', 'paused'));
    }
    row.append(head);
    row.append(el('div', 'wb-small wb-next', `next: ${schedule.paused ? 'paused' : time(schedule.next_run)} UTC`));
    const last = schedule.last_run;
    row.append(
      el('div', 'wb-small wb-last', last ? `last: ${time(last.started_at)} ${last.status}${last.reason ? ` (${last.reason})` : ''}` : 'last: never')
    );
    const tools = el('div', 'wb-tools');
    const path = `schedules/${encodeURIComponent(schedule.name)}`;
    tools.append(
      schedule.paused
        ? button('Resume', 'wb-resume', () => this.act('Resume', () => post(`${path}/resume`)))
        : button('Pause', 'wb-pause', () => this.act('Pause', () => post(`${path}/pause`))),
      button('Remove', 'wb-remove', () => this.act('Remove', () => request(path, { method: 'DELETE' })))
    );
    row.append(tools);
    return row;
  }

  private modelBlock(model: IModel): HTMLElement {
    const block = el('div', 'wb-model');
    block.dataset.model = model.name;
    block.append(el('h4', '', model.name), el('div', 'wb-small', `precision / recall: ${this.average} averages`));
    for (const version of model.versions) {
      block.append(this.versionRow(model.name, version));
    }
    return block;
  }

  private versionRow(name: string, version: IVersion): HTMLElement {
    const row = el('div', `wb-row wb-version wb-stage-${version.stage}`);
    row.dataset.version = String(version.version);
    row.dataset.stage = version.stage;
    const head = el('div', 'wb-line');
    head.append(el('span', 'wb-job', `v${version.version}`), el('span', `wb-stage`, version.stage));
    row.append(head);
    row.append(
      el('div', 'wb-small wb-offline', `offline P ${number(version.offline.precision)} R ${number(version.offline.recall)}`)
    );
    const live = version.live.length ? version.live[version.live.length - 1] : null;
    row.append(
      el('div', 'wb-small wb-live', live ? `live P ${number(live.precision)} R ${number(live.recall)} (${live.n ?? '?'} labelled)` : 'live: no labelled predictions')
    );
    const gate = version.gate;
    row.append(
      el(
        'div',
        `wb-small wb-gate ${gate ? (gate.passed ? 'wb-good' : 'wb-bad') : ''}`,
        gate ? `gates ${gate.passed ? 'passed' : 'failed'} ${time(gate.at)}${gate.failed.length ? ': ' + gate.failed.join('; ') : ''}${gate.error ? ': ' + gate.error : ''}` : 'gates: not run'
      )
    );
    const tools = el('div', 'wb-tools');
    const base = `models/${encodeURIComponent(name)}`;
    if (version.stage !== 'production') {
      tools.append(button('Promote', 'wb-promote', () => this.promote(name, version.version, 'production'),
        'promote to production through the acceptance gates'));
    }
    if (version.stage !== 'production' && version.stage !== 'challenger') {
      tools.append(button('Set challenger', 'wb-challenger', () => this.promote(name, version.version, 'challenger', 0.1),
        'answer 10% of the traffic as the challenger (through the gates)'));
    }
    if (version.stage === 'production') {
      tools.append(button('Roll back', 'wb-rollback', () => this.act('Roll back', async () => {
        const answer = await post<{ summary: string }>(`${base}/rollback`);
        Notification.success(answer.summary, { autoClose: 5000 });
      }), 'put back the version this one replaced'));
    }
    row.append(tools);
    return row;
  }

  private promote(name: string, version: number, stage: string, weight?: number): void {
    this.act(`Promote ${name} v${version}`, async () => {
      const body: Record<string, unknown> = { stage };
      if (weight !== undefined) {
        body.weight = weight;
      }
      const result = await post<IPromotion>(`models/${encodeURIComponent(name)}/${version}/promote`, body);
      if (result.decision === 'refused') {
        const report = el('pre', 'wb-gate-report', result.text);
        await showDialog({
          title: `${name} v${version} was not promoted`,
          body: new Widget({ node: report }),
          buttons: [Dialog.okButton({ label: 'Close' })]
        });
      } else {
        Notification.success(result.summary, { autoClose: 5000 });
      }
    });
  }
}
