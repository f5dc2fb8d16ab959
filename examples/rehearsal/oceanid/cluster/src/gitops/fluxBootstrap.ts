// Flux bootstrap for the oceanid cluster (rehearsal copy).
// Pulumi owns every Flux object by server-side apply through Helm v4.
import * as k8s from "@pulumi/kubernetes";

// Helm hooks would run outside Pulumi's control: strip them from every rendered
// object so Pulumi applies the whole chart itself.
const stripHelmHooks: k8s.types.ResourceTransform = (args) => {
  const annotations = args.props?.metadata?.annotations ?? {};
  delete annotations["helm.sh/hook"];
  delete annotations["helm.sh/hook-weight"];
  delete annotations["helm.sh/hook-delete-policy"];
  return { props: args.props, opts: args.opts };
};

export const flux = new k8s.helm.v4.Chart(
  "flux2",
  {
    chart: "oci://ghcr.io/fluxcd-community/charts/flux2",
    version: "2.17.0",
    namespace: "flux-system",
  },
  { transforms: [stripHelmHooks] },
);
