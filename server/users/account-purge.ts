// What the scheduled purge (auth/session-purge.ts) erases of deleted accounts once they have been
// deleted for ACCOUNT_RETENTION_DAYS (until then support can still undo a deletion by hand, e.g.
// after an account was taken over). Each statement takes $1 = the cutoff, $2 = the batch size, and
// is repeated until it touches fewer rows than that.
//
// What stays for good: the user row's id, username, created_at and deleted_at, so the name stays
// taken and nobody can pose as the person who left. Sessions of the account were revoked at the
// deletion and go with the other ended sessions after SESSION_RETENTION_DAYS.

// The account's posts, live and deleted alike (their timeline_events rows expire on their own).
export const DELETE_POSTS_OF_DELETED_ACCOUNTS = `
  delete from posts where id in (
    select p.id from users u join posts p on p.author_id = u.id
    where u.deleted_at < $1 and u.purged_at is null
    limit $2)`;

// Then the personal data on the row itself. Accounts whose posts are not all gone yet (one was
// added at the last moment) wait for the next round.
export const ERASE_DELETED_ACCOUNTS = `
  update users set password_hash = null, display_name = null, bio = '', purged_at = now()
  where id in (
    select u.id from users u
    where u.deleted_at < $1 and u.purged_at is null
      and not exists (select 1 from posts p where p.author_id = u.id)
    limit $2)`;
