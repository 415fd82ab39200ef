// The views' writes, as TanStack Query mutations; each marks stale the queries whose answers it changes.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { alertAction, refreshDevices } from "../state/app";
import type { ActionKind } from "../state/outbox";
import { del, post, put } from "./client";
import { queryKeys } from "./queries";
import type { ApiKey, Backtest, DeviceConfig, NewApiKey, NewApiKeyCreated } from "./types";

export interface AlertActionInput {
  alertId: string;
  kind: ActionKind;
  note: string;
}

/** Acknowledge or resolve; "queued" when the service is unreachable and the action waits in the outbox. */
export function useAlertAction() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ alertId, kind, note }: AlertActionInput) => alertAction(alertId, kind, note),
    onSuccess: (outcome) => {
      if (outcome === "queued") return; // nothing changed yet; the outbox sends it when the service is back
      void client.invalidateQueries({ queryKey: queryKeys.alerts });
      void client.invalidateQueries({ queryKey: queryKeys.summaries }); // MTTA / MTTR
      void client.invalidateQueries({ queryKey: queryKeys.dashboard });
    },
  });
}

/** Save the changed fields of a device's configuration. */
export function useSaveConfig(deviceId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (changes: Partial<DeviceConfig>) => put(`/api/devices/${encodeURIComponent(deviceId)}/config`, changes),
    onSuccess: async () => {
      await refreshDevices().catch(() => undefined); // the live store's copy, which the device page shows
      void client.invalidateQueries({ queryKey: queryKeys.devices });
      void client.invalidateQueries({ queryKey: queryKeys.trend(deviceId) }); // time to threshold uses the limits
    },
  });
}

/** What a candidate configuration (the changed fields) would have raised over the device's last 7 days; nothing
 * is saved. */
export function useBacktest(deviceId: string) {
  return useMutation({
    mutationFn: (changes: Partial<DeviceConfig>) =>
      post<Backtest>(`/api/devices/${encodeURIComponent(deviceId)}/backtest`, { config: changes }),
  });
}

export interface NewSilence {
  deviceId: string | null; // null: every device
  reason: string;
  endsAt: string;
}

export function useCreateSilence() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (silence: NewSilence) => post("/api/silences", silence),
    onSuccess: () => client.invalidateQueries({ queryKey: queryKeys.silences }),
  });
}

export function useEndSilence() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: number | string) => del(`/api/silences/${encodeURIComponent(String(id))}`),
    onSuccess: () => client.invalidateQueries({ queryKey: queryKeys.silences }),
  });
}

/** Make a gateway API key; its answer carries the secret, which the service shows this once only. */
export function useCreateApiKey() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (key: NewApiKey) => post<NewApiKeyCreated>("/api/keys", key),
    onSuccess: () => client.invalidateQueries({ queryKey: queryKeys.apiKeys }),
  });
}

export function useRevokeApiKey() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: number) => del<ApiKey>(`/api/keys/${id}`),
    onSuccess: () => client.invalidateQueries({ queryKey: queryKeys.apiKeys }),
  });
}
