import { describe, expect, it } from 'vitest';
import { PowerGrid } from '../../sim/faults/power.js';
import { Simulation } from '../../sim/kernel/simulation.js';

function setup(): { sim: Simulation; grid: PowerGrid; log: string[] } {
  const sim = new Simulation({ seed: 1 });
  const grid = new PowerGrid(sim.queue, sim.history);
  const log: string[] = [];
  grid.addHost('h1', [{ powerLoss: () => log.push('disk-a') }, { powerLoss: () => log.push('disk-b') }]);
  grid.addVm('vm1', 'h1', [{ crash: () => log.push('vm1-fs') }]);
  grid.addVm('vm2', 'h1', [{ crash: () => log.push('vm2-fs') }]);
  return { sim, grid, log };
}

describe('PowerGrid (crash injection)', () => {
  it('a VM power loss wipes its guest memory and timers, not the disks or other VMs', () => {
    const { sim, grid, log } = setup();
    const ran: string[] = [];
    sim.queue.after(10, 'vm1:flusher', () => ran.push('vm1'));
    sim.queue.after(10, 'vm2:flusher', () => ran.push('vm2'));
    grid.powerLossVm('vm1');
    grid.powerLossVm('vm1');
    sim.runFor(20);
    expect(log).toEqual(['vm1-fs']);
    expect(ran).toEqual(['vm2']);
    expect(grid.isPoweredOn('vm1')).toBe(false);
    expect(grid.isPoweredOn('vm2')).toBe(true);
  });

  it('a host power loss wipes every VM and resolves every disk cache', () => {
    const { grid, log, sim } = setup();
    grid.powerLossHost('h1');
    expect(log).toEqual(['vm1-fs', 'vm2-fs', 'disk-a', 'disk-b']);
    expect(sim.history.events().map((e) => e.kind)).toEqual(['power.loss']);
  });

  it('scheduled power loss happens at the chosen virtual instant', () => {
    const { sim, grid, log } = setup();
    grid.scheduleVmPowerLoss(5_000, 'vm2');
    sim.runUntil(4_999);
    expect(log).toEqual([]);
    sim.runUntil(5_000);
    expect(log).toEqual(['vm2-fs']);
    const event = sim.history.events()[0];
    expect(event?.timeUs).toBe(5_000);
    expect(event?.data).toEqual({ scope: 'vm', cause: 'scheduled' });
  });

  it('a VM powered on again starts with empty guest memory', () => {
    const { grid, log } = setup();
    grid.powerLossVm('vm1');
    grid.powerOn('vm1');
    grid.attachMemory('vm1', { crash: () => log.push('vm1-fs-2') });
    grid.powerLossVm('vm1');
    expect(log).toEqual(['vm1-fs', 'vm1-fs-2']);
  });
});
