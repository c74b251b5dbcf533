// One request of a target, in the form both load generators (autocannon and open-loop) take.

export interface HttpRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
}
