// Calls to the workbench Jupyter Server extension (/workbench/api/...), with the Lab's own
// session: ServerConnection adds the XSRF token and credentials; workbench has no token of its own.
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export interface IRun {
  run_id: string;
  job: string;
  status: string;
  reason: string | null;
  error: string | null;
  failed_cell: number | null;
  notebook: string;
  started_at: string;
  ended_at: string | null;
  duration: number | null;
  parameters: Record<string, unknown>;
  metrics: Record<string, unknown>;
  has_output: boolean;
  schedule: string | null;
}

export interface ISchedule {
  name: string;
  notebook: string;
  cron: string;
  paused: boolean;
  next_run: string | null;
  last_run: IRun | null;
}

export interface IGate {
  passed: boolean;
  at: string;
  error: string | null;
  failed: string[];
}

export interface ILive {
  arm?: string;
  precision?: number;
  recall?: number;
  labelled?: number;
  [key: string]: unknown;
}

export interface IVersion {
  version: number;
  stage: string;
  created_at: string;
  offline: { precision: number | null; recall: number | null; f1: number | null };
  live: ILive[];
  gate: IGate | null;
}

export interface IModel {
  name: string;
  versions: IVersion[];
}

export interface IState {
  fingerprint: string;
  runs: IRun[];
  schedules: ISchedule[];
  models: IModel[];
  average: string;
}

export interface IParameter {
  name: string;
  type: string;
  default: string;
  help: string;
}

export interface IPromotion {
  decision: string;
  summary: string;
  text: string;
  gate: string | null;
  error: string | null;
  report: unknown;
}

/** A refusal from the server: what went wrong and what to do. */
export class WorkbenchError extends Error {
  constructor(
    message: string,
    readonly hint: string,
    readonly status: number
  ) {
    super(message);
  }
}

export async function request<T>(path: string, init: RequestInit = {}): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'workbench', 'api', path);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new WorkbenchError(`the Jupyter server did not answer: ${error}`, 'is it still running?', 0);
  }
  const text = await response.text();
  let data: any = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { error: text };
  }
  if (!response.ok) {
    const message = (data && (data.error || data.message)) || response.statusText;
    throw new WorkbenchError(message, (data && data.hint) || '', response.status);
  }
  return data as T;
}

export function post<T>(path: string, body: unknown = {}): Promise<T> {
  return request<T>(path, { method: 'POST', body: JSON.stringify(body) });
}

export function dashboardUrl(): string {
  return URLExt.join(ServerConnection.makeSettings().baseUrl, 'workbench', 'dashboard') + '/';
}
