// workbench in JupyterLab: "Run as job" (notebook toolbar, file browser menu, command palette),
// the "workbench" side panel, and the dashboard page in a main-area tab.
import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, IFrame, MainAreaWidget, ToolbarButton } from '@jupyterlab/apputils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';

import { dashboardUrl, post } from './api';
import { runAsJob } from './form';
import { WorkbenchPanel } from './panel';

const ICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161">' +
  '<path d="M4 4h16v3H4zM4 10.5h10v3H4zM4 17h13v3H4z"/><path d="M18 10l4 2.5-4 2.5z"/></g></svg>';

const COMMANDS = {
  runAsJob: 'workbench:run-as-job',
  openPanel: 'workbench:open-panel',
  openDashboard: 'workbench:open-dashboard'
};

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'workbench:plugin',
  description: 'workbench: run notebooks as jobs, follow runs, schedules and models, promote through the gates',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette, IDefaultFileBrowser, ILabShell],
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    palette: ICommandPalette | null,
    browser: IDefaultFileBrowser | null
  ) => {
    const icon = new LabIcon({ name: 'workbench:icon', svgstr: ICON_SVG });
    let dashboard: MainAreaWidget<IFrame> | null = null;

    const openOutput = async (runId: string): Promise<void> => {
      const { path } = await post<{ path: string }>(`runs/${runId}/open`);
      await app.commands.execute('docmanager:open', { path });
    };
    const openDashboard = (): void => {
      if (dashboard && !dashboard.isDisposed) {
        app.shell.activateById(dashboard.id);
        return;
      }
      const frame = new IFrame({ sandbox: ['allow-scripts', 'allow-same-origin', 'allow-downloads'] });
      frame.url = dashboardUrl();
      dashboard = new MainAreaWidget({ content: frame });
      dashboard.id = 'workbench-dashboard';
      dashboard.title.label = 'workbench dashboard';
      dashboard.title.icon = icon;
      dashboard.title.closable = true;
      app.shell.add(dashboard, 'main');
      app.shell.activateById(dashboard.id);
    };

    const panel = new WorkbenchPanel({ openOutput, openDashboard });
    panel.title.icon = icon;
    app.shell.add(panel, 'left', { rank: 900 });
    panel.start();

    /** The notebook a command means: its argument, else the file browser's selection, else the current notebook. */
    const targetPath = (args: Record<string, unknown>): string | null => {
      if (typeof args.path === 'string') {
        return args.path;
      }
      if (args.fromBrowser && browser) {
        const item = browser.selectedItems().next();
        if (item && !item.done && item.value.path.endsWith('.ipynb')) {
          return item.value.path;
        }
      }
      return notebooks.currentWidget ? notebooks.currentWidget.context.path : null;
    };

    app.commands.addCommand(COMMANDS.runAsJob, {
      label: 'Run as job',
      caption: 'run this notebook as a workbench job, now or on a schedule',
      icon,
      isEnabled: () => true,
      execute: async args => {
        const path = targetPath(args as Record<string, unknown>);
        if (!path) {
          await app.commands.execute('apputils:notify', {
            message: 'Run as job: open a notebook or select one in the file browser first',
            type: 'warning',
            options: { autoClose: 5000 }
          });
          return;
        }
        const current = notebooks.currentWidget;
        if (current && current.context.path === path && current.context.model.dirty) {
          await current.context.save(); // the job runs the notebook as saved
        }
        await runAsJob(path, runId => panel.watch(runId));
      }
    });
    app.commands.addCommand(COMMANDS.openPanel, {
      label: 'Show the workbench panel',
      execute: () => app.shell.activateById(panel.id)
    });
    app.commands.addCommand(COMMANDS.openDashboard, {
      label: 'Open the workbench dashboard',
      execute: openDashboard
    });

    if (palette) {
      for (const command of Object.values(COMMANDS)) {
        palette.addItem({ command, category: 'workbench' });
      }
    }
    app.contextMenu.addItem({
      command: COMMANDS.runAsJob,
      args: { fromBrowser: true },
      selector: '.jp-DirListing-item[data-file-type="notebook"]',
      rank: 3
    });
    app.docRegistry.addWidgetExtension('Notebook', {
      createNew: (widget: NotebookPanel) => {
        const run = new ToolbarButton({
          icon,
          label: 'Run as job',
          className: 'wb-toolbar-run',
          tooltip: 'Run this notebook as a workbench job',
          onClick: () => void app.commands.execute(COMMANDS.runAsJob, { path: widget.context.path })
        });
        widget.toolbar.insertItem(10, 'workbench-run-as-job', run);
        return run;
      }
    });
  }
};

export default plugin;
