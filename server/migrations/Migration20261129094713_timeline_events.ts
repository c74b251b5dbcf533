import { Migration } from '@mikro-orm/migrations';

export class Migration20261129094713_timeline_events extends Migration {
  override name = 'Migration20261129094713_timeline_events';

  override up(): void | Promise<void> {
    // Live timelines (server/realtime/): the resume log, and the trigger on posts that writes it in
    // the writing transaction (declared on the Post entity).
    this.addSql(
      `create table "timeline_events" ("id" bigserial primary key, "tx" bigint not null, "kind" varchar(8) not null, "post_id" uuid not null, "author_id" uuid not null, "created_at" timestamptz(3) not null default now());`,
    );
    this.addSql(`create index "timeline_events_order" on "timeline_events" ("tx", "id");`);

    this.addSql(
      `create or replace function "posts_timeline_event_fn"() returns trigger as \$\$ begin if tg_op = 'INSERT' and new.deleted_at is not null then return null; end if; if tg_op = 'UPDATE' and (old.deleted_at is null) = (new.deleted_at is null) then return null; end if; insert into timeline_events (tx, kind, post_id, author_id) values (pg_current_xact_id()::text::bigint, case when new.deleted_at is null then 'post' else 'delete' end, new.id, new.author_id); return null; end; \$\$ language plpgsql;`,
    );
    this.addSql(`create trigger "timeline_event" AFTER INSERT OR UPDATE on "posts" for each ROW
  when ((current_setting('warble.timeline_events'::text, true) IS DISTINCT FROM 'off'::text)) execute function "posts_timeline_event_fn"();`);

    this.addSql(
      `alter table "timeline_events" add constraint "timeline_events_kind" check (kind in ('post', 'delete'));`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "timeline_events" cascade;`);

    this.addSql(`drop trigger if exists "timeline_event" on "posts";`);
    this.addSql(`drop function if exists "posts_timeline_event_fn"();`);
  }
}
